"""Evaluation without a true generator: models against the held-out wholes of recorded data.

The held-out ELBO on a split beside the training split (the overfitting gap), and for every multiset that the split
holds on at least ``min_wholes`` wholes (a feeder on many days): MMD² and energy distance of each model's wholes,
generated given each observed whole's conditions, to the observed ones, with the planner's errors where the data are
load curves; beside the empirical bootstrap, the same multiset's wholes in the training split where it has any.
"""
from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from compvae_geo.datasets import WholesDataset
from compvae_geo.datasets.dataset_source import SPLITS, split_dataset, split_keys

from ..checkpoint import read_model_payload
from ..models import SavableModel
from ..training.config import TrainConfig
from ..training.heldout import dataset_elbo_bits
from .config import largest_peak_error
from .metrics import energy_distance, median_distance, mmd2_unbiased, pooled_bandwidth, standardisation
from .planner import planner_statistics, relative_errors
from .run import load_sources
from .tables import Table

EMPIRICAL = "empirical"  # the baseline of the same multiset's wholes in the training split


@dataclass
class MultisetCell:
    """One multiset of the evaluated split: how close each source's wholes are to the observed ones."""

    key: str  # the multiset's key (:func:`~compvae_geo.datasets.dataset_source.split_keys`)
    num_parts: int
    observed: int  # its wholes in the split
    mmd2: dict[str, float]  # per source, on wholes standardised per position by the observed ones
    energy: dict[str, float]
    planner_errors: dict[str, dict[str, float]]  # per source (load curves only): relative errors to the observed


@torch.no_grad()
def multiset_cells(
    models: dict[str, SavableModel], dataset: WholesDataset, splits: dict[str, Tensor], split: str,
    min_wholes: int, seed: int = 0,
) -> list[MultisetCell]:
    """The cells of every multiset with at least ``min_wholes`` wholes in ``split`` (see the module docstring)."""
    keys = split_keys(dataset, "multiset")
    wholes_of: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for name, index in splits.items():
        for b in index.tolist():
            wholes_of[keys[b]][name].append(b)
    encoding = dataset.encoding
    cells = []
    for key, by_split in wholes_of.items():
        if len(by_split.get(split, [])) < min_wholes:
            continue
        observed = dataset.batch(torch.tensor(by_split[split]))
        truth = encoding.decode_values(observed.whole)
        first = observed.batch == 0  # the multiset's parts: those of its first whole
        descriptors = None if "part_attr" not in observed else encoding.decode_descriptors(observed.part_attr[first])
        sources = {}
        for name, model in models.items():
            torch.manual_seed(seed)  # given each observed whole's conditions (a row of NaN: unknown)
            sources[name] = model.eval().generate(observed.part[first], truth.size(0), descriptors,
                                                  getattr(observed, "whole_attr", None), observation_noise=True)
        if split != "train" and by_split.get("train"):
            sources[EMPIRICAL] = encoding.decode_values(dataset.batch(torch.tensor(by_split["train"])).whole)
        cells.append(_cell(key, observed, truth, sources, encoding.step_hours))
    return cells


def _cell(key: str, observed: object, truth: Tensor, sources: dict[str, Tensor],
          step_hours: float | None) -> MultisetCell:
    centre, scale = standardisation(truth)
    true_scaled = (truth - centre) / scale
    bandwidth = median_distance(true_scaled)
    mmd2, energy, errors = {}, {}, {}
    true_plan = None if step_hours is None else planner_statistics(truth, step_hours)
    for name, wholes in sources.items():
        scaled = (wholes - centre) / scale
        width = bandwidth if bandwidth > 0 else pooled_bandwidth(true_scaled, scaled)
        mmd2[name] = float(mmd2_unbiased(scaled, true_scaled, width))
        energy[name] = float(energy_distance(scaled, true_scaled))
        if true_plan is not None:
            errors[name] = relative_errors(planner_statistics(wholes, step_hours), true_plan)
    return MultisetCell(key, int((observed.batch == 0).sum()), truth.size(0), mmd2, energy, errors)


def cells_table(cells: list[MultisetCell]) -> Table:
    """Per multiset: its parts and wholes, each source's MMD² / energy distance."""
    sources = list(cells[0].mmd2) if cells else []
    rows = [[cell.key[:8], str(cell.num_parts), str(cell.observed),
             *[f"{cell.mmd2[name]:.4f} / {cell.energy[name]:.3f}" if name in cell.mmd2 else "-" for name in sources]]
            for cell in cells]
    return Table(["multiset", "parts", "wholes", *[f"{name}: MMD² / energy" for name in sources]], rows)


def as_json(cells: list[MultisetCell]) -> list[dict]:
    """Plain values."""
    return [asdict(cell) for cell in cells]


def evaluate_data(
    checkpoint: Path, baselines: dict[str, Path], data: Path, split: str = "test", min_wholes: int = 50,
    out_dir: Path | None = None, command: str | None = None,
    tracking: tuple[str | None, str | None] | None = None,
) -> tuple[dict[str, Any], Path]:
    """Evaluates ``checkpoint`` (and the ``baselines``) on the files of ``data``: writes and returns the document.

    The files are read through the checkpoint's encoding, and split as its training split its own (its fractions,
    key and seed): ``data`` may be the training files, or others of the same layout, such as new days of the same
    multisets (which then fall in the splits they fell in for training, given the same set of multisets). Every
    model must have been trained on files with the same encoding. The document goes to ``out_dir`` (default
    ``<checkpoint dir>/evaluation-<split>``); with ``tracking`` (``(tracking_uri, run_id)``) it is also logged in an
    MLflow run of its own (:func:`~compvae_geo.evaluation.run.evaluation_tracker`), with its metrics
    (:func:`data_metrics`) linked to the files' split and to the checkpoint's MLflow Model.
    """
    payload = read_model_payload(checkpoint)
    if "training" not in payload or not payload["training"]["config"].get("data"):
        raise ValueError(f"{checkpoint} was not trained on files: evaluate it against its problem (without --data)")
    train = TrainConfig.from_dict(payload["training"]["config"])
    if split not in SPLITS:
        raise ValueError(f"--split must be one of {list(SPLITS)}, got {split!r}")
    models, paths, _ = load_sources(checkpoint, payload, baselines)
    encoding = next(iter(models.values())).encoding
    foreign = [name for name, model in models.items()
               if model.encoding is None or model.encoding.to_dict() != encoding.to_dict()]
    if foreign:
        raise ValueError(f"{', '.join(foreign)} was not trained on the checkpoint's files (another encoding)")
    dataset = WholesDataset(data, drop_incomplete=train.drop_incomplete, encoding=encoding)
    splits = split_dataset(dataset, train.val_fraction, train.test_fraction, train.split_by, train.seed)
    if not splits[split].numel():
        raise ValueError(f"the {split} split of {data} is empty")
    cells = multiset_cells(models, dataset, splits, split, min_wholes, train.seed)
    document = {"data": str(data), "digest": dataset.digest, "split": split, "command": command, "models": paths,
                "split_sizes": {name: index.numel() for name, index in splits.items()}, "min_wholes": min_wholes,
                "elbo_bits": {name: {part: dataset_elbo_bits(model, dataset, splits[part], train.seed)
                                     for part in ("train", split)} for name, model in models.items()},
                "multisets": as_json(cells)}
    out_dir = out_dir or checkpoint.parent / f"evaluation-{split}"
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "evaluation.json"
    path.write_text(json.dumps(document, indent=2))
    if tracking is not None:
        _log_data_evaluation(payload, document, path, tracking, command)
    return document, path


def data_metrics(document: dict[str, Any]) -> dict[str, float]:
    """An ``evaluate --data`` document as MLflow metrics.

    ``data/<model>/elbo_bits_<split>`` (and the training split's, and their gap), and per source the mean over the
    evaluated multisets of ``mmd2`` and ``energy``.
    """
    split, metrics = document["split"], {}
    for name, values in document["elbo_bits"].items():
        metrics.update({f"data/{name}/elbo_bits_{part}": value for part, value in values.items()})
        metrics[f"data/{name}/elbo_gap_bits"] = values[split] - values["train"]
    cells = document["multisets"]
    for source in (cells[0]["mmd2"] if cells else {}):
        for key in ("mmd2", "energy"):
            metrics[f"data/{source}/{key}"] = sum(cell[key][source] for cell in cells) / len(cells)
    return metrics


def _log_data_evaluation(payload: dict[str, Any], document: dict[str, Any], path: Path,
                         tracking: tuple[str | None, str | None], command: str | None) -> None:
    """The evaluation in its own MLflow run: settings, metrics linked to the split of the files, the document."""
    from .run import MeasuredOn, ended_on_failure, evaluation_tracker, log_evaluation

    split = document["split"]
    measured_on = MeasuredOn(f"{Path(document['data']).name} files ({split} split)",
                             {"directory": str(Path(document["data"]).resolve()), "split": split},
                             document["digest"])
    params = {"data": document["data"], "split": split, "min_wholes": document["min_wholes"]}
    tracker = evaluation_tracker(payload, f"{Path(document['data']).name}", *tracking, params, measured_on, command)
    with ended_on_failure(tracker):
        log_evaluation(tracker, [(data_metrics(document), 0)], [path])


def elbo_table(document: dict[str, Any]) -> Table:
    """Per model: the held-out ELBO of the evaluated split beside the training split's (the overfitting gap)."""
    split = document["split"]
    rows = [[name, f"{values['train']:.1f}", f"{values[split]:.1f}", f"{values[split] - values['train']:+.1f}"]
            for name, values in document["elbo_bits"].items()]
    return Table(["model", "train", split, "gap"], rows)


def results_markdown(document: dict[str, Any], source: str, out: str) -> str:
    """The results document of an ``evaluate --data`` evaluation (what ``compvae-geo report`` writes for it)."""
    split, cells = document["split"], [MultisetCell(**cell) for cell in document["multisets"]]
    lines = [f"# {Path(document['data']).name}: the {split} split against its observed wholes", "",
             f"Written by `compvae-geo report --evaluation {source} --out {out}` from `{document['command']}` "
             f"(files digest {document['digest']}; split sizes "
             + ", ".join(f"{name} {size:,}" for name, size in document["split_sizes"].items()) + ").", "",
             f"## Held-out ELBO, bits per whole, on the {split} split beside the training split", "",
             *elbo_table(document).markdown(), "",
             f"## Multisets of the {split} split with at least {document['min_wholes']} wholes", ""]
    if not cells:
        return "\n".join([*lines, "None.", ""])
    lines += ["Generated against observed, standardised per position (MMD² / energy distance):", "",
              *cells_table(cells).markdown(), ""]
    if any(cell.planner_errors for cell in cells):
        sources = list(cells[0].planner_errors)
        rows = [[cell.key[:8], *(f"{100 * largest_peak_error(cell.planner_errors[name]):.0f} % / "
                                 f"{100 * cell.planner_errors[name]['energy_std']:.0f} %" for name in sources)]
                for cell in cells]
        lines += ["The planner's errors against the observed wholes (largest daily-peak quantile error / "
                  "daily-energy spread error):", "",
                  *Table(["multiset", *sources], rows).markdown(), ""]
    return "\n".join(lines)
