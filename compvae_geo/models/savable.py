"""The base of every model that a checkpoint can hold: built from a config alone, saved as plain data."""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from compvae_geo.datasets import DataEncoding

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
        self.encoding: DataEncoding | None = None  # set for a model of recorded data: its labels, conditions, units

    @property
    def dtype(self) -> torch.dtype:
        """The float type of the weights (inputs of another precision are converted to it)."""
        return next(self.parameters()).dtype

    def checkpoint_payload(self) -> dict[str, Any]:
        """The model name, config and weights as plain data (what :meth:`save` writes)."""
        payload = {"format": CHECKPOINT_FORMAT, "model": self.model_name, "config": self.config.to_dict(),
                   "state_dict": self.state_dict()}
        if self.encoding is not None:
            payload["encoding"] = self.encoding.to_dict()
        return payload

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
        if payload.get("encoding") is not None:
            model.encoding = DataEncoding.from_dict(payload["encoding"])
        return model

    def part_ids(self, parts: Any) -> Any:
        """Category labels of a model of recorded data (a list with text in it) as ids; anything else unchanged."""
        if self.encoding is not None and isinstance(parts, (list, tuple)) and any(isinstance(p, str) for p in parts):
            return self.encoding.part_ids(list(parts))
        return parts

    def encoded_descriptors(self, part_attr: Any) -> Any:
        """The descriptors ``[K, F]`` of a model of recorded data, given in the files' units, as the model reads them.

        Anything else is unchanged.
        """
        if self.encoding is None or part_attr is None or isinstance(part_attr, list):
            return part_attr
        return self.encoding.encode_descriptors(part_attr)

    def encoded_conditions(self, whole_attr: Any) -> Any:
        """Conditions by column name as ``whole_attr`` ``[whole_attr_dim]``, for a model of recorded data.

        ``{"day_type": "weekday", "temperature": -5}``, through the files' encoding; anything else is unchanged.
        """
        if isinstance(whole_attr, dict):
            if self.encoding is None:
                raise ValueError("conditions by name need a model trained on files (with their encoding)")
            return self.encoding.encode_conditions({name: [value] for name, value in whole_attr.items()}, 1)[0]
        return whole_attr

    def draws_noise(self, observation_noise: bool | None) -> bool:
        """Whether generation draws the observation noise: as asked, or by default as the data's wholes carry it."""
        return self.config.noisy_wholes if observation_noise is None else observation_noise

    def in_file_units(self, wholes: Tensor) -> Tensor:
        """Generated wholes in the units of the files a model of recorded data was trained on (else unchanged)."""
        return wholes if self.encoding is None else self.encoding.decode_values(wholes)
