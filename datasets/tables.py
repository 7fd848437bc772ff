"""The files of a dataset of wholes and their parts, read and checked: two tables and an optional ``dataset.json``.

The layout (docs/data_format.md): ``wholes.csv`` (or ``.parquet``) has one row per whole, a ``whole_id`` column, the
condition columns ``dataset.json`` names, the group column it names (if any), and every other column a value of the
whole, in file order; ``parts.csv`` has one row per part: ``whole_id``, ``category`` (a label) and every other column
a numeric descriptor. Every problem found is a :class:`DataFileError` naming the file, the row and the column.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

TABLE_SUFFIXES = (".csv", ".parquet")
WHOLE_ID, CATEGORY = "whole_id", "category"
CONDITION_KINDS = ("categorical", "numeric")
SETTINGS_FILE = "dataset.json"
SETTINGS_KEYS = {"conditions", "unit", "step_hours", "group"}


class DataFileError(ValueError):
    """A dataset file that cannot be used; the message names the file, and the row and column where it can."""


@dataclass
class DatasetSettings:
    """What ``dataset.json`` says (every key optional)."""

    conditions: dict[str, str] = field(default_factory=dict)  # condition column -> "categorical" or "numeric"
    unit: str | None = None  # of the values, e.g. "kW"
    step_hours: float | None = None  # the values are load curves with steps this long: planner statistics apply
    group: str | None = None  # a wholes column (a feeder, a date) that splits must not cut across


@dataclass
class Tables:
    """The checked contents of a dataset directory."""

    settings: DatasetSettings
    whole_ids: list[Any]  # [B] in file order
    values: np.ndarray  # [B, T] float64
    value_columns: list[str]  # the T value columns, in file order
    conditions: dict[str, list[Any]]  # condition column -> [B] cells (None where empty)
    groups: list[Any] | None  # [B] the group column, or None
    part_whole: np.ndarray  # [N] the row (0 .. B-1) of each part's whole
    categories: np.ndarray  # [N] each part's category label (text)
    descriptors: np.ndarray  # [N, F] float64
    descriptor_columns: list[str]  # the F descriptor columns, in file order
    dropped: int = 0  # wholes left out for a missing value (read_tables' drop_incomplete)


def read_tables(directory: str | Path, drop_incomplete: bool = False) -> Tables:
    """Reads and checks the tables of ``directory``; :class:`DataFileError` for anything unusable.

    With ``drop_incomplete``, the wholes with a missing value (and their parts) are left out, and counted in
    :attr:`Tables.dropped`, instead of refused.
    """
    import pandas as pd

    directory = Path(directory)
    settings = read_settings(directory / SETTINGS_FILE)
    wholes_path, parts_path = table_path(directory, "wholes"), table_path(directory, "parts")
    wholes, parts = read_table(wholes_path), read_table(parts_path)
    for path, frame, required in ((wholes_path, wholes, (WHOLE_ID,)), (parts_path, parts, (WHOLE_ID, CATEGORY))):
        missing = [column for column in required if column not in frame.columns]
        if missing:
            raise DataFileError(f"{path}: no {', '.join(repr(c) for c in missing)} column "
                                f"(columns: {', '.join(map(str, frame.columns))})")
    named = [*settings.conditions, *([settings.group] if settings.group else [])]
    absent = [column for column in named if column not in wholes.columns]
    if absent:
        raise DataFileError(f"{wholes_path}: {SETTINGS_FILE} names the column(s) {', '.join(map(repr, absent))}, "
                            "which the table does not have")
    ids = wholes[WHOLE_ID].tolist()
    duplicated = wholes[WHOLE_ID].duplicated()
    if duplicated.any():
        row = int(np.flatnonzero(duplicated.to_numpy())[0])
        raise DataFileError(f"{wholes_path}, {_row(wholes_path, row)}, column '{WHOLE_ID}': the whole_id "
                            f"{ids[row]!r} appears twice")
    value_columns = [column for column in wholes.columns if column != WHOLE_ID and column not in named]
    if not value_columns:
        raise DataFileError(f"{wholes_path}: no value columns (every column is the whole_id, a condition or the group)")
    dropped = 0
    if drop_incomplete:
        incomplete = wholes[value_columns].isna().any(axis=1)
        dropped = int(incomplete.sum())
        kept_ids = wholes.loc[~incomplete, WHOLE_ID]
        parts = parts[~parts[WHOLE_ID].isin(wholes.loc[incomplete, WHOLE_ID])].reset_index(drop=True)
        wholes = wholes[~incomplete].reset_index(drop=True)
        ids = kept_ids.tolist()
        if wholes.empty:
            raise DataFileError(f"{wholes_path}: every whole has a missing value")
    values = numeric(wholes, value_columns, wholes_path, "value")
    part_whole = pd.Index(wholes[WHOLE_ID]).get_indexer(parts[WHOLE_ID])  # the row of each part's whole, -1: none
    unknown = part_whole < 0
    if unknown.any():
        row = int(np.flatnonzero(unknown)[0])
        raise DataFileError(f"{parts_path}, {_row(parts_path, row)}, column '{WHOLE_ID}': no whole has the whole_id "
                            f"{parts[WHOLE_ID].iloc[row]!r} (in {wholes_path.name})")
    empty_category = parts[CATEGORY].isna()
    if empty_category.any():
        row = int(np.flatnonzero(empty_category.to_numpy())[0])
        raise DataFileError(f"{parts_path}, {_row(parts_path, row)}, column '{CATEGORY}': empty category")
    descriptor_columns = [column for column in parts.columns if column not in (WHOLE_ID, CATEGORY)]
    return Tables(
        settings=settings, whole_ids=ids, values=values, value_columns=[str(c) for c in value_columns],
        conditions={name: [None if is_empty(cell) else cell for cell in wholes[name].tolist()]
                    for name in settings.conditions},
        groups=wholes[settings.group].tolist() if settings.group else None,
        part_whole=part_whole.astype(np.int64), categories=labels(parts[CATEGORY]),
        descriptors=numeric(parts, descriptor_columns, parts_path, "descriptor"),
        descriptor_columns=[str(c) for c in descriptor_columns], dropped=dropped)


def read_settings(path: Path) -> DatasetSettings:
    """``dataset.json`` checked (its absence means the defaults)."""
    if not path.exists():
        return DatasetSettings()
    try:
        raw = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DataFileError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(raw, dict) or set(raw) - SETTINGS_KEYS:
        raise DataFileError(f"{path}: must be an object with some of the keys {sorted(SETTINGS_KEYS)}, "
                            f"got {sorted(raw) if isinstance(raw, dict) else type(raw).__name__}")
    conditions = raw.get("conditions", {})
    if not isinstance(conditions, dict) or any(kind not in CONDITION_KINDS for kind in conditions.values()):
        raise DataFileError(f"{path}: 'conditions' maps each condition column to one of {list(CONDITION_KINDS)}, "
                            f"got {conditions!r}")
    step_hours = raw.get("step_hours")
    if step_hours is not None and (isinstance(step_hours, bool) or not isinstance(step_hours, (int, float))
                                   or step_hours <= 0):
        raise DataFileError(f"{path}: 'step_hours' must be a positive number of hours, got {step_hours!r}")
    return DatasetSettings(conditions=dict(conditions), unit=raw.get("unit"),
                           step_hours=None if step_hours is None else float(step_hours), group=raw.get("group"))


def table_path(directory: Path, name: str) -> Path:
    """``directory/<name>.csv`` or ``.parquet``; :class:`DataFileError` if neither, both, or another type is there."""
    found = [directory / f"{name}{suffix}" for suffix in TABLE_SUFFIXES if (directory / f"{name}{suffix}").exists()]
    if len(found) == 1:
        return found[0]
    if found:
        raise DataFileError(f"{directory}: both {found[0].name} and {found[1].name}; keep one")
    others = sorted(path.name for path in directory.glob(f"{name}.*")) if directory.is_dir() else []
    kind = f"; {', '.join(others)} is of an unknown type" if others else ""
    raise DataFileError(f"{directory}: no {name}.csv or {name}.parquet{kind}")


def read_table(path: Path) -> Any:
    """A table as a pandas ``DataFrame``; :class:`DataFileError` for an unreadable or empty one."""
    import pandas as pd

    try:
        frame = pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, OSError, ValueError) as error:
        raise DataFileError(f"{path}: cannot be read as a table ({str(error).splitlines()[0]})") from None
    if frame.empty:
        raise DataFileError(f"{path}: the table has no rows")
    return frame


def numeric(frame: Any, columns: list[str], path: Path, what: str) -> np.ndarray:
    """``frame[columns]`` as float64 ``[rows, len(columns)]``; the first non-numeric or missing cell is an error."""
    import pandas as pd

    out = np.empty((len(frame), len(columns)), dtype=np.float64)
    for j, column in enumerate(columns):
        converted = pd.to_numeric(frame[column], errors="coerce")
        bad = converted.isna().to_numpy() | ~np.isfinite(converted.to_numpy(dtype=np.float64, na_value=np.nan))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            cell = frame[column].iloc[row]
            problem = "is missing" if is_empty(cell) else f"is not a finite number ({cell!r})"
            raise DataFileError(f"{path}, {_row(path, row)}, column '{column}': the {what} {problem}")
        out[:, j] = converted.to_numpy(dtype=np.float64)
    return out


def _row(path: Path, row: int) -> str:
    """A row as a user finds it: the line of a CSV file (after its header), the 1-based row of a Parquet table."""
    return f"line {row + 2}" if path.suffix == ".csv" else f"row {row + 1}"


def is_empty(cell: Any) -> bool:
    """An empty cell: None, NaN or blank text."""
    return cell is None or (isinstance(cell, float) and np.isnan(cell)) or (isinstance(cell, str) and not cell.strip())


def labels(column: Any) -> np.ndarray:
    """A column of category labels as text, vectorised (:func:`as_label` of each cell)."""
    values = column.to_numpy()
    if values.dtype.kind == "f" and np.all(np.mod(values, 1) == 0):
        values = values.astype(np.int64)
    return values.astype(str)


def as_label(category: Any) -> str:
    """A category label as text (integers read as floats from a column with gaps become ints again)."""
    if isinstance(category, float) and category.is_integer():
        category = int(category)
    return str(category)
