"""What a training run is, decided once: its configurations, its problem, its device, its preset, its checkpoint."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from compvae_geo.datasets import PartsProblem

from ..models import CompVAEConfig
from ..problems import DATA_DEFINED_MODEL_FIELDS, make_problem, model_config_for
from .config import TrainConfig


def resolve_device(name: str) -> torch.device:
    """``"auto"``: CUDA when present, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"unknown device {name!r}: use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} asked for, but CUDA is not available")
    return device


@dataclass(frozen=True)
class RunSpec:
    """A training run's choices, checked and resolved once, then passed on (never rebuilt downstream)."""

    train: TrainConfig
    model: CompVAEConfig
    problem: PartsProblem  # the generator of train.problem
    device: torch.device  # train.device resolved
    checkpoint: Path  # where its checkpoints go
    preset: str | None = None  # the preset it started from (None: none, or a checkpoint that did not record it)

    @classmethod
    def build(
        cls, train: TrainConfig, checkpoint: str | os.PathLike, model_overrides: dict[str, Any] | None = None, *,
        model: CompVAEConfig | None = None, preset: str | None = None, device: torch.device | None = None,
    ) -> RunSpec:
        """The run of ``train`` with the model ``model`` (default: the problem's data fields and ``model_overrides``).

        ``device``: ``train.device`` already resolved (default: resolved here). ``ValueError`` for a model whose
        data-defined fields do not fit the problem, or an unknown or absent device.
        """
        problem = make_problem(train.problem)
        fitted = model_config_for(problem, **(model_overrides or {}))
        model = model or fitted
        wrong = sorted(key for key in DATA_DEFINED_MODEL_FIELDS if getattr(model, key) != getattr(fitted, key))
        if wrong:
            raise ValueError(f"the model's {', '.join(wrong)} do not fit the {train.problem} problem")
        return cls(train, model, problem, device or resolve_device(train.device), Path(checkpoint), preset)
