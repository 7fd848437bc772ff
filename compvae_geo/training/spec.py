"""What a training run is, decided once: its configurations, its problem, its device, its preset, its checkpoint."""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from compvae_geo.datasets import DataEncoding, PartsProblem, WholesDataset
from compvae_geo.datasets.dataset_source import DatasetSource, split_dataset

from ..models import CompVAEConfig
from ..problems import DATA_DEFINED_MODEL_FIELDS, make_problem, model_config_for
from .config import TrainConfig
from .heldout import HELDOUT_SEED_OFFSET, GeneratedHeldOut, SplitHeldOut


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
    problem: PartsProblem | DatasetSource  # where training batches come from: train.problem's generator, or train.data
    heldout: GeneratedHeldOut | SplitHeldOut  # what the held-out ELBO is measured on
    device: torch.device  # train.device resolved
    checkpoint: Path  # where its checkpoints go
    preset: str | None = None  # the preset it started from (None: none, or a checkpoint that did not record it)
    encoding: DataEncoding | None = None  # with train.data: how the files' labels, conditions and values are read
    split_sizes: dict[str, int] | None = None  # with train.data: wholes in each split

    @classmethod
    def build(
        cls, train: TrainConfig, checkpoint: str | os.PathLike, model_overrides: dict[str, Any] | None = None, *,
        model: CompVAEConfig | None = None, preset: str | None = None, device: torch.device | None = None,
    ) -> RunSpec:
        """The run of ``train`` with the model ``model`` (default: the problem's data fields and ``model_overrides``).

        ``device``: ``train.device`` already resolved (default: resolved here). ``ValueError`` for a model whose
        data-defined fields do not fit the problem, or an unknown or absent device.
        """
        source, heldout, encoding, sizes = _sources(train)
        if train.epochs:  # passes over the training split, in steps
            train = replace(train, iterations=max(1, math.ceil(train.epochs * sizes["train"] / train.batch_size)))
        fitted = model_config_for(source, **(model_overrides or {}))
        model = model or fitted
        wrong = sorted(key for key in DATA_DEFINED_MODEL_FIELDS if getattr(model, key) != getattr(fitted, key))
        if wrong:
            raise ValueError(f"the model's {', '.join(wrong)} do not fit the {train.data or train.problem} data")
        if getattr(model, "per_part_decoder", False) and isinstance(source, DatasetSource):
            counts = source.dataset.part_counts
            if (counts == 0).any():
                raise ValueError(f"{int((counts == 0).sum())} of the {counts.numel()} wholes of {train.data} have no "
                                 "parts: a model whose whole is the sum of its parts (per_part_decoder) makes exactly "
                                 "0 of none and cannot learn from them; leave them out of the files or train without "
                                 "per_part_decoder")
        return cls(train, model, source, heldout, device or resolve_device(train.device), Path(checkpoint), preset,
                   encoding, sizes)


def _sources(train: TrainConfig) -> tuple[PartsProblem | DatasetSource, GeneratedHeldOut | SplitHeldOut,
                                          DataEncoding | None, dict[str, int] | None]:
    """The training source and the held-out set of ``train``: its problem's generator, or its data's splits."""
    if not train.data:
        problem = make_problem(train.problem)
        heldout = GeneratedHeldOut(problem, train.eval_part_counts, train.eval_wholes, train.seed + HELDOUT_SEED_OFFSET)
        return problem, heldout, None, None
    dataset = WholesDataset(train.data, drop_incomplete=train.drop_incomplete)
    splits = split_dataset(dataset, train.val_fraction, train.test_fraction, train.split_by, train.seed)
    if not splits["val"].numel():
        raise ValueError("training from data needs a validation split for its held-out ELBO: --val-fraction > 0")
    heldout = SplitHeldOut(DatasetSource(dataset, splits["val"]), train.eval_wholes, train.seed + HELDOUT_SEED_OFFSET)
    return DatasetSource(dataset, splits["train"]), heldout, dataset.encoding, \
        {split: index.numel() for split, index in splits.items()}
