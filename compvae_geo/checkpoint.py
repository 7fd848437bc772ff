"""Saving and loading models as plain data (config + weights), never as pickled code."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch
from torch import nn

from .config import CompVAEConfig

CHECKPOINT_FORMAT = 1  # version of the dictionary written by SavableModel.save
DEFAULT_MODEL_NAME = "compvae"  # the model of checkpoints that do not name one


def atomic_torch_save(payload: object, path: str | os.PathLike) -> None:
    """``torch.save`` that never leaves a half-written file at ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(payload, handle)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_model_payload(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """The dictionary of a model file or training checkpoint (``weights_only=True``: no code runs)."""
    payload = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a compvae_geo checkpoint of format {CHECKPOINT_FORMAT}")
    return payload


class SavableModel(nn.Module):
    """A model built from a :class:`CompVAEConfig` alone, saved as ``{format, model, config, state_dict}``."""

    model_name: str = DEFAULT_MODEL_NAME  # how checkpoints name this class (see compvae_geo.models)

    def __init__(self, config: CompVAEConfig) -> None:
        super().__init__()
        self.config = config

    def checkpoint_payload(self) -> dict:
        """The model name, config and weights as plain data (what :meth:`save` writes)."""
        return {"format": CHECKPOINT_FORMAT, "model": self.model_name, "config": self.config.to_dict(),
                "state_dict": self.state_dict()}

    def save(self, path: str | os.PathLike) -> None:
        """Writes the config and weights to ``path`` atomically (temporary file, then rename)."""
        atomic_torch_save(self.checkpoint_payload(), path)

    @classmethod
    def load(cls, path: str | os.PathLike, map_location: str | torch.device = "cpu"):
        """A model from a :meth:`save` file or a training checkpoint; never runs code from the
        file (``weights_only=True``). Use :func:`compvae_geo.models.load_model` when the kind of
        model is not known in advance."""
        return cls.from_payload(read_model_payload(path, map_location), str(path))

    @classmethod
    def from_payload(cls, payload: dict, source: str = "the checkpoint"):
        """The model of a :meth:`checkpoint_payload` dictionary."""
        name = payload.get("model", DEFAULT_MODEL_NAME)
        if name != cls.model_name:
            raise ValueError(f"{source} holds a {name!r} model, not a {cls.model_name!r} one")
        model = cls(CompVAEConfig.from_dict(payload["config"]))
        model.load_state_dict(payload["state_dict"])
        return model
