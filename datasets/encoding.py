"""How the files' labels, conditions, descriptors and values become the tensors a model reads, and back.

Fitted once on a dataset's tables and saved as plain values beside the processed data (and in the checkpoint of a
model trained on it), so that a model generates from labels and in the file's units.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .tables import DataFileError, Tables, as_label, is_empty


@dataclass
class ConditionEncoding:
    """One condition column: one-hot columns for a categorical one, a standardised column for a numeric one."""

    name: str
    kind: str  # "categorical" or "numeric"
    categories: list[str] = field(default_factory=list)  # categorical: the values seen, in sorted order
    mean: float = 0.0  # numeric: subtracted...
    std: float = 1.0  # ...then divided by

    @property
    def width(self) -> int:
        """The columns it takes in ``whole_attr``."""
        return len(self.categories) if self.kind == "categorical" else 1


@dataclass
class DataEncoding:
    """The vocabulary of part categories, the condition encoding, the descriptor and value scales, the unit."""

    vocabulary: list[str]  # category labels; a part's id is its position
    conditions: list[ConditionEncoding]
    descriptor_columns: list[str]
    descriptor_mean: list[float]
    descriptor_std: list[float]
    value_columns: list[str]
    value_scale: float  # the wholes are divided by it for training (no shift: an empty whole stays 0)
    unit: str | None = None
    step_hours: float | None = None
    group_column: str | None = None  # the wholes column that splits keep together, if dataset.json names one

    @classmethod
    def fit(cls, tables: Tables) -> DataEncoding:
        """The encoding of ``tables``: labels sorted (numerically where all are integers), scales from the data."""
        distinct = [str(label) for label in np.unique(tables.categories)]
        labels = sorted(distinct, key=_label_order(distinct))
        conditions = []
        for name, kind in tables.settings.conditions.items():
            cells = [cell for cell in tables.conditions[name] if cell is not None]
            if kind == "categorical":
                labels_seen = [as_label(cell) for cell in cells]
                seen = sorted(set(labels_seen), key=_label_order(labels_seen))
                conditions.append(ConditionEncoding(name, kind, categories=seen))
            else:
                numbers = np.asarray(cells, dtype=np.float64)
                conditions.append(ConditionEncoding(name, kind, mean=float(numbers.mean()) if numbers.size else 0.0,
                                                    std=_positive(numbers.std() if numbers.size else 1.0)))
        descriptors = tables.descriptors
        scale = float(np.sqrt(np.mean(tables.values ** 2)))
        return cls(vocabulary=labels, conditions=conditions, descriptor_columns=tables.descriptor_columns,
                   descriptor_mean=descriptors.mean(0).tolist() if len(descriptors) else [0.0] * descriptors.shape[1],
                   descriptor_std=[_positive(s) for s in (descriptors.std(0) if len(descriptors)
                                                          else np.ones(descriptors.shape[1]))],
                   value_columns=tables.value_columns, value_scale=_positive(scale), unit=tables.settings.unit,
                   step_hours=tables.settings.step_hours, group_column=tables.settings.group)

    def check_reads(self, tables: Tables, directory: str) -> None:
        """``DataFileError`` unless ``tables`` (files it was not fitted on) have this encoding's layout.

        The same value, descriptor and condition columns, and no category label or categorical condition value it does
        not know: new days of the same feeders, next month's data.
        """
        layout = [("value", self.value_columns, tables.value_columns),
                  ("descriptor", self.descriptor_columns, tables.descriptor_columns),
                  ("condition", [f"{c.name} ({c.kind})" for c in self.conditions],
                   [f"{name} ({kind})" for name, kind in tables.settings.conditions.items()])]
        for what, known, read in layout:
            if list(known) != list(read):
                raise DataFileError(f"{directory}: the {what} columns are {_listed(read)}; the model's data had "
                                    f"{_listed(known)}")
        unknown = sorted(set(np.unique(tables.categories).tolist()) - set(self.vocabulary))
        if unknown:
            raise DataFileError(f"{directory}: part categories {unknown[:5]} the model's data never had "
                                f"(it knows {self.vocabulary})")
        for condition in self.conditions:
            if condition.kind == "categorical":
                seen = {as_label(cell) for cell in tables.conditions[condition.name] if cell is not None}
                if seen - set(condition.categories):
                    raise DataFileError(f"{directory}: condition {condition.name!r} has values "
                                        f"{sorted(seen - set(condition.categories))} the model's data never had")

    # ----- the model's side -----------------------------------------------------------------------

    @property
    def whole_attr_dim(self) -> int:
        """Columns of ``whole_attr``."""
        return sum(condition.width for condition in self.conditions)

    def part_ids(self, labels: list[str] | list[int] | Tensor) -> Tensor:
        """Category ids ``[K]`` of labels (text, or ids already); ``ValueError`` naming a label training never saw."""
        if isinstance(labels, Tensor):
            return labels
        index = {label: i for i, label in enumerate(self.vocabulary)}
        ids = []
        for label in labels:
            if isinstance(label, int) and not isinstance(label, bool):
                ids.append(label)
            elif str(label) in index:
                ids.append(index[str(label)])
            else:
                raise ValueError(f"unknown part category {label!r}; the data had {self.vocabulary}")
        return torch.tensor(ids, dtype=torch.long)

    def category_ids(self, labels: np.ndarray) -> Tensor:
        """Ids ``[N]`` of many labels at once (the vocabulary must hold them all: fitted on them)."""
        import pandas as pd

        return torch.from_numpy(pd.Categorical(labels, categories=self.vocabulary).codes.astype(np.int64))

    def encode_descriptors(self, descriptors: np.ndarray | Tensor) -> Tensor:
        """Descriptors ``[N, F]`` in the file's units to the standardised ``part_attr`` the model reads."""
        return (torch.as_tensor(descriptors, dtype=torch.float32) - torch.tensor(self.descriptor_mean)) \
            / torch.tensor(self.descriptor_std)

    def encode_conditions(self, columns: dict[str, Sequence[Any]], num_wholes: int) -> Tensor:
        """``whole_attr`` ``[num_wholes, whole_attr_dim]`` of condition cells by column name.

        A whole with an empty cell (or a column not given) has unknown conditions, a row of NaN: the model knows the
        conditions of a whole as a whole or not at all. ``ValueError`` for a categorical value the data never had.
        """
        out = np.zeros((num_wholes, self.whole_attr_dim), dtype=np.float32)
        unknown = np.zeros(num_wholes, dtype=bool)
        column = 0
        for condition in self.conditions:
            cells = list(columns.get(condition.name, [None] * num_wholes))
            missing = np.array([is_empty(cell) for cell in cells], dtype=bool)
            unknown |= missing
            if condition.kind == "numeric":
                numbers = np.array([np.nan if gap else float(cell) for cell, gap in zip(cells, missing)])
                out[:, column] = (numbers - condition.mean) / condition.std
            else:
                index = {category: i for i, category in enumerate(condition.categories)}
                for row, (cell, gap) in enumerate(zip(cells, missing)):
                    if gap:
                        continue
                    if as_label(cell) not in index:
                        raise ValueError(f"condition {condition.name!r} has no value {cell!r} in the data; "
                                         f"known: {condition.categories}")
                    out[row, column + index[as_label(cell)]] = 1.0
            column += condition.width
        out[unknown] = np.nan
        return torch.from_numpy(out)

    def decode_conditions(self, whole_attr: Tensor) -> dict[str, list[Any]]:
        """``whole_attr`` ``[B, whole_attr_dim]`` back as cells by column name: :meth:`encode_conditions` undone.

        A category's label, a number in the files' units, None in a row of NaN (unknown).
        """
        known = whole_attr.isfinite().all(-1).tolist()
        cells, column = {}, 0
        for condition in self.conditions:
            block = whole_attr[:, column:column + condition.width]
            if condition.kind == "numeric":
                values = (block[:, 0] * condition.std + condition.mean).tolist()
            else:
                values = [condition.categories[i] for i in block.nan_to_num(0.0).argmax(-1).tolist()]
            cells[condition.name] = [value if row_known else None for value, row_known in zip(values, known)]
            column += condition.width
        return cells

    def decode_descriptors(self, part_attr: Tensor) -> Tensor:
        """``part_attr`` back in the file's units (the inverse of :meth:`encode_descriptors`)."""
        return part_attr * torch.tensor(self.descriptor_std) + torch.tensor(self.descriptor_mean)

    def encode_values(self, values: np.ndarray | Tensor) -> Tensor:
        """Wholes ``[B, T]`` in the file's units to what the model is trained on."""
        return torch.as_tensor(values, dtype=torch.float32) / self.value_scale

    def decode_values(self, wholes: Tensor) -> Tensor:
        """Generated wholes back in the file's units (:attr:`unit`)."""
        return wholes * self.value_scale

    # ----- plain values, for JSON and checkpoints ------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain values."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> DataEncoding:
        """The encoding of :meth:`to_dict` values."""
        return cls(**{**values, "conditions": [ConditionEncoding(**c) for c in values["conditions"]]})


def _listed(columns: list[str]) -> str:
    """Columns for a message: the first few and how many."""
    return f"{columns[:4]}{' ...' if len(columns) > 4 else ''} ({len(columns)})"


def _positive(value: float) -> float:
    """A scale to divide by: 1 where the data do not vary (or are all zero)."""
    return float(value) if value > 0 and math.isfinite(value) else 1.0


def _label_order(labels: list[str]) -> Any:
    """Sort key: numerical where every label is an integer, else text."""
    numeric = all(label.lstrip("-").isdigit() for label in labels)
    return (lambda label: int(label)) if numeric else (lambda label: label)
