"""The registry of models by name: build one, or load whatever a checkpoint holds."""
from __future__ import annotations

import os

import torch

from ..checkpoint import DEFAULT_MODEL_NAME, read_model_payload
from .compvae import CompVAE
from .config import CompVAEConfig
from .count_cvae import CountCVAE
from .savable import SavableModel

MODELS: dict[str, type[SavableModel]] = {cls.model_name: cls for cls in (CompVAE, CountCVAE)}


def build_model(name: str, config: CompVAEConfig) -> SavableModel:
    """A fresh model of kind ``name`` (a key of :data:`MODELS`)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known: {sorted(MODELS)}")
    return MODELS[name](config)


def model_from_payload(payload: dict, source: str = "the checkpoint") -> SavableModel:
    """Whatever model a :func:`~compvae_geo.checkpoint.read_model_payload` dictionary holds."""
    name = payload.get("model", DEFAULT_MODEL_NAME)
    if name not in MODELS:
        raise ValueError(f"{source} holds an unknown model {name!r}; known: {sorted(MODELS)}")
    return MODELS[name].from_payload(payload, source)


def load_model(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> SavableModel:
    """Whatever model a checkpoint holds (``weights_only=True``: no code from the file runs)."""
    return model_from_payload(read_model_payload(path, map_location), str(path))
