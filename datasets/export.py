"""Any problem's wholes written in the file layout of :class:`~compvae_geo.datasets.WholesDataset`.

So that every problem can travel the file path, and a user sees the format on real-looking data: each multiset (a
feeder of households) on many days, its parts (and their descriptors) the same every day, each day's conditions.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from .parts_problem import PartsProblem
from .tables import CATEGORY, SETTINGS_FILE, WHOLE_ID

GROUP = "multiset_id"  # the column of the wholes table naming each whole's multiset (what splits keep together)


def export_problem(
    problem: PartsProblem, num_wholes: int, num_multisets: int, max_parts: int, out_dir: str | Path, seed: int = 0,
    file_type: str = "csv",
) -> Path:
    """Writes ``num_wholes`` wholes of ``num_multisets`` random multisets (1 to ``max_parts`` parts) to ``out_dir``.

    ``wholes.<file_type>``, ``parts.<file_type>`` (``csv`` or ``parquet``) and ``dataset.json``; the wholes are spread
    evenly over the multisets. Returns ``out_dir``.
    """
    import pandas as pd

    if not 1 <= num_multisets <= num_wholes:
        raise ValueError(f"need 1 <= multisets <= wholes, got {num_multisets} and {num_wholes}")
    if max_parts < 1 or file_type not in ("csv", "parquet"):
        raise ValueError(f"need max_parts >= 1 and a file type csv or parquet, got {max_parts} and {file_type!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    generator = torch.Generator().manual_seed(seed)
    labels, names = problem.category_labels, problem.descriptor_names
    wholes, parts, kinds = [], [], {}
    for multiset in range(num_multisets):
        days = num_wholes // num_multisets + (multiset < num_wholes % num_multisets)
        size = int(torch.randint(1, max_parts + 1, (1,), generator=generator))
        part = torch.randint(0, problem.num_categories, (size,), generator=generator)
        part_attr = problem.sample_part_attr(part, generator)
        batch = problem._fixed_multiset(part, days, part_attr, None, generator, naive=False)[0]
        whole_ids = [f"{multiset}-{day}" for day in range(days)]
        conditions = problem.condition_columns(batch.whole_attr) if problem.whole_attr_dim else {}
        kinds.update({name: kind for name, (kind, _) in conditions.items()})
        frame = {WHOLE_ID: whole_ids, GROUP: multiset, **{name: cells for name, (_, cells) in conditions.items()}}
        values = batch.whole.flatten(1)  # a file holds a whole's values in a row (an image: its pixels, flattened)
        frame.update({f"v{t:04d}": values[:, t].tolist() for t in range(values.size(1))})
        wholes.append(pd.DataFrame(frame))
        for whole_id in whole_ids:
            rows = {WHOLE_ID: whole_id, CATEGORY: [labels[c] for c in part.tolist()]}
            rows.update({name: part_attr[:, j].tolist() for j, name in enumerate(names)})
            parts.append(pd.DataFrame(rows))
    for name, frames in (("wholes", wholes), ("parts", parts)):
        table = pd.concat(frames, ignore_index=True)
        path = out_dir / f"{name}.{file_type}"
        table.to_csv(path, index=False) if file_type == "csv" else table.to_parquet(path, index=False)
    settings = {"conditions": kinds, "group": GROUP, "unit": problem.unit, "step_hours": problem.step_hours}
    (out_dir / SETTINGS_FILE).write_text(json.dumps({k: v for k, v in settings.items() if v is not None}, indent=1))
    return out_dir
