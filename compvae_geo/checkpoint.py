"""Saving and loading checkpoints as plain data (config + weights), never as pickled code.

A checkpoint is a dictionary ``{format, model, config, state_dict}`` (a training checkpoint also
holds ``training``), read with ``weights_only=True``. Format 1 (before the package was split into
``models/``, ``codecs/``, ``training/``, ``evaluation/``) is upgraded when read: its part-prior
weights are renamed, and the options removed since (recorded in ``docs/experiments.md``) are
dropped where they were off, or the file is refused with a message naming them.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

CHECKPOINT_FORMAT = 2  # version of the dictionary written by SavableModel.save
DEFAULT_MODEL_NAME = "compvae"  # the model of checkpoints that do not name one

# Format 1 -> 2: the part prior's modules moved into CompVAE.part_prior.
_FORMAT_1_PREFIXES = {"prior_embedding.": "part_prior.embedding.", "prior_count.": "part_prior.count.",
                      "prior_group_size.": "part_prior.group_size.", "w_prior.": "part_prior.head.",
                      "prior_context.": "part_prior.context."}
# Format 1 options removed in format 2, with the value that means "off".
_FORMAT_1_MODEL_OPTIONS = {"prior_components": 1, "fitted_prior": False}
_FORMAT_1_TRAIN_OPTIONS = {"prior_fit_steps": 0, "prior_fit_lr": None}  # None: any value (unused when off)


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


def _drop_removed_options(values: dict[str, Any], removed: dict[str, Any], path: str) -> dict[str, Any]:
    for key, off in removed.items():
        if key in values and off is not None and values[key] != off:
            raise ValueError(f"{path} is a format-1 checkpoint that uses {key}={values[key]!r}, an option removed "
                             f"in format {CHECKPOINT_FORMAT} (see docs/experiments.md); it cannot be loaded")
    return {key: value for key, value in values.items() if key not in removed}


def _upgrade_format_1(payload: dict[str, Any], path: str) -> dict[str, Any]:
    """A format-1 payload in format 2 (see the module docstring)."""
    def renamed(key: str) -> str:
        for old, new in _FORMAT_1_PREFIXES.items():
            if key.startswith(old):
                return new + key[len(old):]
        return key

    upgraded = {**payload, "format": CHECKPOINT_FORMAT,
                "config": _drop_removed_options(payload["config"], _FORMAT_1_MODEL_OPTIONS, path),
                "state_dict": {renamed(key): value for key, value in payload["state_dict"].items()}}
    if "training" in payload:
        training = payload["training"]
        upgraded["training"] = {**training,
                                "config": _drop_removed_options(training["config"], _FORMAT_1_TRAIN_OPTIONS, path)}
    return upgraded


def read_model_payload(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """The dictionary of a model file or training checkpoint (``weights_only=True``: no code runs)."""
    payload = torch.load(path, map_location=map_location, weights_only=True)
    version = payload.get("format") if isinstance(payload, dict) else None
    if version == 1:
        return _upgrade_format_1(payload, str(path))
    if version != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a compvae_geo checkpoint of format 1 or {CHECKPOINT_FORMAT} "
                         f"(format: {version!r})")
    return payload
