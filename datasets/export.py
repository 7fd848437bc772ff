"""Any problem's wholes written in the file layout of :class:`~compvae_geo.datasets.WholesDataset`.

So that every problem can travel the file path, and a user sees the format on real-looking data: each multiset (a
feeder of households) on many days, its parts (and their descriptors) the same every day, each day's conditions.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from .parts_problem import PartsProblem
from .tables import CATEGORY, SETTINGS_FILE, WHOLE_ID

if TYPE_CHECKING:
    import pandas as pd

GROUP = "multiset_id"  # the column of the wholes table naming each whole's multiset (what splits keep together)


def export_problem(
    problem: PartsProblem, num_wholes: int, num_multisets: int, max_parts: int, out_dir: str | Path, seed: int = 0,
    file_type: str = "csv",
) -> Path:
    """Writes ``num_wholes`` wholes of ``num_multisets`` random multisets (1 to ``max_parts`` parts) to ``out_dir``.

    ``wholes.<file_type>``, ``parts.<file_type>`` (``csv`` or ``parquet``) and ``dataset.json``; the wholes are spread
    evenly over the multisets. Returns ``out_dir``.
    """
    if not 1 <= num_multisets <= num_wholes:
        raise ValueError(f"need 1 <= multisets <= wholes, got {num_multisets} and {num_wholes}")
    if max_parts < 1 or file_type not in ("csv", "parquet"):
        raise ValueError(f"need max_parts >= 1 and a file type csv or parquet, got {max_parts} and {file_type!r}")
    generator = torch.Generator().manual_seed(seed)
    frames = []
    for multiset in range(num_multisets):
        days = num_wholes // num_multisets + (multiset < num_wholes % num_multisets)
        size = int(torch.randint(1, max_parts + 1, (1,), generator=generator))
        part = torch.randint(0, problem.num_categories, (size,), generator=generator)
        frames.append(_days_of(problem, multiset, part, problem.sample_part_attr(part, generator), days, generator))
    return _write(problem, frames, Path(out_dir), file_type)


def export_new_days(problem: PartsProblem, data_dir: str | Path, out_dir: str | Path, seed: int = 0,
                    file_type: str = "csv") -> Path:
    """Fresh wholes of the multisets that :func:`export_problem` wrote to ``data_dir``, as many of each, to ``out_dir``.

    The same feeders on other days: held-out wholes of multisets a model has seen (``compvae-geo evaluate --data
    out_dir --split train``). Returns ``out_dir``.
    """
    from .tables import read_tables

    tables = read_tables(data_dir)
    if tables.groups is None or tables.settings.group != GROUP:
        raise ValueError(f"{data_dir} has no {GROUP!r} group column: it was not written by export_problem")
    ids = {label: i for i, label in enumerate(problem.category_labels)}
    unknown = sorted(set(tables.categories.tolist()) - set(ids))
    if unknown:
        raise ValueError(f"{data_dir} holds categories {unknown[:5]} that {type(problem).__name__} does not have")
    first_whole, days = {}, {}
    for row, multiset in enumerate(tables.groups):
        first_whole.setdefault(multiset, row)
        days[multiset] = days.get(multiset, 0) + 1
    generator = torch.Generator().manual_seed(seed)
    frames = []
    for multiset, row in first_whole.items():
        of_row = tables.part_whole == row
        part = torch.tensor([ids[label] for label in tables.categories[of_row]], dtype=torch.long)
        part_attr = torch.from_numpy(tables.descriptors[of_row]).float() if problem.descriptor_names else None
        frames.append(_days_of(problem, multiset, part, part_attr, days[multiset], generator))
    return _write(problem, frames, Path(out_dir), file_type)


def _days_of(problem: PartsProblem, multiset: int, part: Tensor, part_attr: Tensor | None, days: int,
             generator: torch.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The wholes table and the parts table of ``days`` wholes of one multiset."""
    import pandas as pd

    batch = problem._fixed_multiset(part, days, part_attr, None, generator, naive=False)[0]
    whole_ids = [f"{multiset}-{day}" for day in range(days)]
    conditions = problem.encoding.decode_conditions(batch.whole_attr) if problem.whole_attr_dim else {}
    frame = {WHOLE_ID: whole_ids, GROUP: multiset, **conditions}
    values = batch.whole.flatten(1)  # a file holds a whole's values in a row (an image: its pixels, flattened)
    frame.update({f"v{t:04d}": values[:, t].tolist() for t in range(values.size(1))})
    labels = [problem.category_labels[c] for c in part.tolist()]
    rows = {WHOLE_ID: [whole_id for whole_id in whole_ids for _ in labels], CATEGORY: labels * days}
    rows.update({name: part_attr[:, j].tolist() * days for j, name in enumerate(problem.descriptor_names)})
    return pd.DataFrame(frame), pd.DataFrame(rows)


def _write(problem: PartsProblem, frames: list[tuple[pd.DataFrame, pd.DataFrame]], out_dir: Path,
           file_type: str) -> Path:
    """The tables of every multiset and ``dataset.json`` in ``out_dir``."""
    import pandas as pd

    out_dir.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(("wholes", "parts")):
        table = pd.concat([frame[i] for frame in frames], ignore_index=True)
        path = out_dir / f"{name}.{file_type}"
        table.to_csv(path, index=False) if file_type == "csv" else table.to_parquet(path, index=False)
    settings = {"conditions": {c.name: c.kind for c in problem.condition_encodings}, "group": GROUP,
                "unit": problem.unit, "step_hours": problem.step_hours}
    (out_dir / SETTINGS_FILE).write_text(json.dumps({k: v for k, v in settings.items() if v is not None}, indent=1))
    return out_dir
