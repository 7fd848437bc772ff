"""A table of parts, one row per part, read as the wholes to generate; generated wholes written as a long table.

The table has the columns of the data path's ``parts`` table (docs/data_format.md): ``whole_id``, ``category`` (a
label, or an id), the model's descriptor columns, and optionally the condition columns of its wholes, by name, on
every row of a whole (an empty cell: unknown). A whole whose only row has an empty category is an empty multiset.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from compvae_geo.datasets import DataEncoding
from compvae_geo.datasets.tables import CATEGORY, WHOLE_ID, is_empty

if TYPE_CHECKING:
    import pandas as pd

LONG_COLUMNS = ("whole_id", "sample", "step", "value")  # the generated wholes, one row per value


@dataclass(frozen=True)
class WholeRequest:
    """One whole to generate: its parts (the model's ids), their descriptors (the files' units), its conditions."""

    whole_id: Any
    parts: Tensor  # [K] category ids
    part_attr: Tensor | None  # [K, F] in the files' units, None for a model without descriptors
    whole_attr: Tensor | None  # [whole_attr_dim] as the model reads them, None: unknown


def read_requests(table: pd.DataFrame, terms: DataEncoding) -> list[WholeRequest]:
    """The wholes of ``table`` in the order of their first rows; ``ValueError`` naming the column for bad input.

    Refused: a missing ``whole_id``/``category``/descriptor column, an empty ``whole_id``, a column that is none of
    these nor a condition, an unknown category label or id, a non-numeric or non-finite descriptor, a condition value
    the model does not know, and conditions that differ between the rows of one whole.
    """
    import pandas as pd

    if not isinstance(table, pd.DataFrame):
        raise ValueError(f"the input must be a table (a DataFrame), got {type(table).__name__}")
    conditions = [condition.name for condition in terms.conditions]
    required = [WHOLE_ID, CATEGORY, *terms.descriptor_columns]
    missing = [column for column in required if column not in table.columns]
    if missing:
        raise ValueError(f"the parts table has no column(s) {missing}; it needs {required}"
                         + (f" and may have the conditions {conditions}" if conditions else ""))
    unknown = [str(column) for column in table.columns if column not in required and column not in conditions]
    if unknown:
        raise ValueError(f"the parts table has unknown column(s) {unknown}; known: {required + conditions}")
    no_id = table[WHOLE_ID].map(is_empty).to_numpy(dtype=bool)
    if no_id.any():
        raise ValueError(f"the parts table's row {int(np.flatnonzero(no_id)[0])} has no whole_id")
    has_part = ~table[CATEGORY].map(is_empty).to_numpy(dtype=bool)  # a row with an empty category: no part
    descriptors = _descriptors(table, terms.descriptor_columns, has_part)
    requests = []
    for whole_id, rows in table.groupby(WHOLE_ID, sort=False).indices.items():
        kept = rows[has_part[rows]]
        parts = _part_ids(table[CATEGORY].iloc[kept].tolist(), terms)
        part_attr = torch.from_numpy(descriptors[kept]).float() if terms.descriptor_columns else None
        whole_attr = _conditions(table, rows, [c for c in conditions if c in table.columns], terms, whole_id)
        requests.append(WholeRequest(whole_id, parts, part_attr, whole_attr))
    if not requests:
        raise ValueError("the parts table is empty: give one row per part (a row with an empty category for a whole "
                         "without parts)")
    return requests


def _descriptors(table: pd.DataFrame, columns: list[str], has_part: np.ndarray) -> np.ndarray:
    """The descriptor columns ``[rows, F]`` as float64; ``ValueError`` naming a bad cell of a row with a part."""
    import pandas as pd

    out = np.zeros((len(table), len(columns)))
    for j, column in enumerate(columns):
        values = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=np.float64)
        bad = has_part & ~np.isfinite(values)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise ValueError(f"the parts table's column {column!r} has no finite number in row {row} "
                             f"({table[column].iloc[row]!r})")
        out[:, j] = values
    return out


def _part_ids(categories: list[Any], terms: DataEncoding) -> Tensor:
    """Ids ``[K]`` of category labels, or of ids given as whole numbers within the vocabulary."""
    labels = []
    for category in categories:
        if isinstance(category, (int, np.integer)) or (isinstance(category, float) and category.is_integer()):
            if not 0 <= int(category) < len(terms.vocabulary):
                raise ValueError(f"category id {int(category)} is not in 0..{len(terms.vocabulary) - 1}")
            labels.append(int(category))
        else:
            labels.append(str(category))
    return terms.part_ids(labels) if labels else torch.zeros(0, dtype=torch.long)


def _conditions(table: pd.DataFrame, rows: np.ndarray, columns: list[str], terms: DataEncoding,
                whole_id: Any) -> Tensor | None:
    """A whole's conditions as the model reads them (None where any is unknown: the model draws them)."""
    cells = {}
    for column in columns:
        values = table[column].iloc[rows].tolist()
        if any(not _same(value, values[0]) for value in values):
            raise ValueError(f"whole {whole_id!r} has different {column!r} values on its rows: {values}")
        cells[column] = [values[0]]
    if not columns:
        return None
    whole_attr = terms.encode_conditions(cells, 1)[0]
    return None if whole_attr.isnan().any() else whole_attr


def _same(a: Any, b: Any) -> bool:
    return (is_empty(a) and is_empty(b)) or a == b


def long_table(whole_id: Any, wholes: Tensor) -> pd.DataFrame:
    """Wholes ``[S, T]`` of one request as rows (``whole_id``, ``sample``, ``step``, ``value``)."""
    import pandas as pd

    samples, steps = wholes.shape[0], math.prod(wholes.shape[1:])
    return pd.DataFrame({"whole_id": [whole_id] * (samples * steps),
                         "sample": np.repeat(np.arange(samples), steps), "step": np.tile(np.arange(steps), samples),
                         "value": wholes.reshape(samples, steps).double().numpy().ravel()})
