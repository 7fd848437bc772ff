"""The base of every model that a checkpoint can hold: built from a config alone, saved as plain data."""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

if TYPE_CHECKING:
    from typing_extensions import Self

from ..checkpoint import CHECKPOINT_FORMAT, DEFAULT_MODEL_NAME, CheckpointError, atomic_torch_save, read_model_payload
from .config import CompVAEConfig


class SavableModel(nn.Module):
    """A model built from a :class:`CompVAEConfig` alone, saved as ``{format, model, config, state_dict}``."""

    model_name: str = DEFAULT_MODEL_NAME  # how checkpoints name this class (see compvae_geo.models)

    def __init__(self, config: CompVAEConfig) -> None:
        super().__init__()
        self.config = config

    @property
    def dtype(self) -> torch.dtype:
        """The float type of the weights (inputs of another precision are converted to it)."""
        return next(self.parameters()).dtype

    def checkpoint_payload(self) -> dict[str, Any]:
        """The model name, config and weights as plain data (what :meth:`save` writes)."""
        return {"format": CHECKPOINT_FORMAT, "model": self.model_name, "config": self.config.to_dict(),
                "state_dict": self.state_dict()}

    def save(self, path: str | os.PathLike) -> None:
        """Writes the config and weights to ``path`` atomically (temporary file, then rename)."""
        atomic_torch_save(self.checkpoint_payload(), path)

    @classmethod
    def load(cls, path: str | os.PathLike, map_location: str | torch.device = "cpu") -> Self:
        """A model from a :meth:`save` file or a training checkpoint.

        Never runs code from the file (``weights_only=True``). Use :func:`compvae_geo.load_model` when the kind of model
        is not known in advance.
        """
        return cls.from_payload(read_model_payload(path, map_location), str(path))

    @classmethod
    def from_payload(cls, payload: dict[str, Any], source: str = "the checkpoint") -> Self:
        """The model of a :meth:`checkpoint_payload` dictionary; refuses non-finite weights."""
        name = payload.get("model", DEFAULT_MODEL_NAME)
        if name != cls.model_name:
            raise ValueError(f"{source} holds a {name!r} model, not a {cls.model_name!r} one")
        diverged = [key for key, value in payload["state_dict"].items()
                    if isinstance(value, torch.Tensor) and value.is_floating_point() and not value.isfinite().all()]
        if diverged:
            raise CheckpointError(f"{source} holds non-finite weights ({diverged[0]}, {len(diverged)} tensors in all): "
                                  "its training diverged; resume from an earlier checkpoint or train with a lower lr")
        model = cls(CompVAEConfig.from_dict(payload["config"]))
        model.load_state_dict(payload["state_dict"])
        return model
