"""Evaluating checkpoints as ``compvae-geo evaluate`` does.

Each checkpoint read once, the evaluation written to ``evaluation.json`` with the model's figures, and logged to MLflow.
"""
from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compvae_geo.datasets import PartsProblem

from ..checkpoint import read_model_payload
from ..models import CompVAE, SavableModel, model_from_payload
from ..problems import make_problem, model_problem
from ..tracking import Tracker, TrackingUnavailable
from ..training.launch import training_command
from .config import NAIVE, TRUE, EvalConfig
from .figures import model_figures
from .per_k import KEvaluation, as_json, as_metrics, evaluate
from .planner_figures import coincidence_figure, load_duration_figure, peaks_figure
from .probe import z_probe
from .problem_terms import in_terms_of
from .profiles import profile_of
from .tail import TailCell, evaluate_tail
from .tail import as_json as tail_json
from .tail import as_metrics as tail_metrics
from .whatif import WhatIfCell, evaluate_whatif
from .whatif import as_json as whatif_json
from .whatif import as_metrics as whatif_metrics

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@dataclass
class EvaluationRun:
    """What :func:`evaluate_checkpoints` measured and where it wrote it."""

    evaluation: list[KEvaluation]  # empty without the per-K evaluation (only what-if and tail)
    json_path: Path
    num_figures: int
    seconds: float
    tracker: Tracker | None
    whatif: list[WhatIfCell] | None = None
    tail: list[TailCell] | None = None


@dataclass(frozen=True)
class MeasuredOn:
    """What an evaluation measured a model on, as its run's MLflow dataset input (its metrics are linked to it)."""

    name: str
    tags: dict[str, str]
    digest: str | None = None


def evaluation_tracker(payload: dict[str, Any], subject: str, tracking_uri: str | None, run_id: str | None,
                       params: dict[str, Any], measured_on: MeasuredOn, command: str | None = None) -> Tracker:
    """The MLflow run of an evaluation: its own, ended by the evaluation, never the training run itself.

    A child of ``run_id``, else of the checkpoint's training run if the store has it (the MLflow UI nests it under
    that run), else a new run in the experiment ``<subject>-evaluation``. Its parameters are the evaluation's settings
    (``params``) and its description the ``command``; its dataset input is ``measured_on``, and its metrics are linked
    to that dataset and to the MLflow Model the parent run logged, if any (the model's page then shows them).
    """
    description = f"`{command}`" if command else None
    parent = run_id or payload.get("training", {}).get("run_id")
    tracker = None
    if parent is not None:
        try:
            tracker = Tracker(subject, tracking_uri, run_name="evaluation", parent_run_id=parent,
                              description=description)
        except TrackingUnavailable:
            if run_id is not None:
                raise
            logging.warning("training run %s is not in the tracking store; logging to a new evaluation run", parent)
            parent = None
    tracker = tracker or Tracker(f"{subject}-evaluation", tracking_uri, run_name="evaluation",
                                 description=description)
    tracker.log_params(params)
    name, digest = tracker.log_dataset(measured_on.name, measured_on.tags, measured_on.digest, context="evaluation")
    model_id = None if parent is None else tracker.logged_model_of(parent)
    tracker.metric_links = {"model_id": model_id, "dataset_name": name, "dataset_digest": digest}
    return tracker


def evaluate_checkpoints(
    checkpoint: Path,
    baselines: dict[str, Path],
    config: EvalConfig,
    problem_name: str | None = None,
    out_dir: Path | None = None,
    tracking: tuple[str | None, str | None] | None = (None, None),
    command: str | None = None,
    whatif: bool = False,
    tail: bool = False,
    per_k: bool = True,
) -> EvaluationRun:
    """Evaluates ``checkpoint`` beside the named ``baselines`` on its problem.

    Args:
        checkpoint: the model to evaluate (a training checkpoint or a bare model file).
        baselines: other models to compare, by the name the tables give them.
        config: what to measure.
        problem_name: default: the checkpoint's training problem, or for a bare model file the
            problem whose data its config fits.
        out_dir: where ``evaluation.json`` and the figures go (default ``<checkpoint dir>/evaluation``, or
            ``<checkpoint dir>/simulator`` without ``per_k``).
        tracking: ``(tracking_uri, run_id)`` for :func:`evaluation_tracker`, or None for no MLflow.
        command: the command line that asked for it, recorded in the document.
        whatif: also measure the what-if recomposition of every CompVAE (:func:`evaluate_whatif`).
        tail: also measure the first model's :func:`~compvae_geo.structural.generate_tail` (:func:`evaluate_tail`).
        per_k: measure the per-K distances, conditions, z probe and figures (False: only ``whatif`` and ``tail``).
    """
    if not (per_k or whatif or tail):
        raise ValueError("nothing to evaluate: ask for the per-K evaluation, the what-if one, the tail one")
    payload = read_model_payload(checkpoint)
    problem_name = problem_name or _problem_of(payload, checkpoint)
    problem = make_problem(problem_name)
    models, paths, trained_by = load_sources(checkpoint, payload, baselines)
    models = {name: in_terms_of(problem, model) for name, model in models.items()}
    compvaes = {name: model for name, model in models.items() if isinstance(model, CompVAE)}
    if (whatif or tail) and not compvaes:
        raise ValueError("the what-if and tail evaluations need a CompVAE (a model with recompose and generate_tail)")
    generator = MeasuredOn(f"{problem_name} generator", {"problem": problem_name, "seed": str(config.seed)})
    tracker = None if tracking is None else evaluation_tracker(payload, problem_name, *tracking, config.to_dict(),
                                                               generator, command)
    with ended_on_failure(tracker):
        return _evaluate(payload, models, problem, config, tracker,
                         out_dir or checkpoint.parent / ("evaluation" if per_k else "simulator"),
                         document={"problem": problem_name, "command": command, "settings": config.to_dict(),
                                   "models": paths, "training_commands": trained_by},
                         whatif=whatif, tail=tail, per_k=per_k)


@contextlib.contextmanager
def ended_on_failure(tracker: Tracker | None) -> Iterator[None]:
    """An evaluation's run ends KILLED (Ctrl-C) or FAILED when the evaluation inside the block does (None: no run)."""
    try:
        yield
    except BaseException as error:  # the evaluation's run ends, whatever ended the evaluation
        if tracker is not None:
            tracker.end("KILLED" if isinstance(error, KeyboardInterrupt) else "FAILED")
        raise


def _evaluate(payload: dict[str, Any], models: dict[str, SavableModel], problem: PartsProblem, config: EvalConfig,
              tracker: Tracker | None, out_dir: Path, document: dict[str, Any], whatif: bool, tail: bool,
              per_k: bool) -> EvaluationRun:
    """What :func:`evaluate_checkpoints` measures and writes (into ``document``), once its models and run are there."""
    compvaes = {name: model for name, model in models.items() if isinstance(model, CompVAE)}
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    whatif_cells = evaluate_whatif(compvaes, problem, config) if whatif else None
    tail_cells = evaluate_tail(next(iter(compvaes.values())), problem, config) if tail else None
    evaluation = _evaluate_per_k(models, compvaes, problem, config, document) if per_k else []
    document.update(_simulator_sections(whatif_cells, tail_cells, next(iter(compvaes), None)))
    seconds = time.monotonic() - started
    figures = _figures(next(iter(models.values())), problem, config, payload, evaluation) if per_k else {}
    for name, figure in figures.items():
        figure.savefig(out_dir / name, dpi=120)
    document.update(seconds=seconds, figures=sorted(figures))
    json_path = out_dir / "evaluation.json"
    json_path.write_text(json.dumps(document, indent=2))
    if tracker is not None:
        metrics = as_metrics(evaluation) + whatif_metrics(whatif_cells or []) + tail_metrics(tail_cells or [])
        log_evaluation(tracker, metrics, [json_path, *(out_dir / name for name in figures)])
    return EvaluationRun(evaluation, json_path, len(figures), seconds, tracker, whatif_cells, tail_cells)


def _problem_of(payload: dict[str, Any], checkpoint: Path) -> str:
    """The simulator a checkpoint learnt from; ``ValueError`` for a model of files, which names none."""
    problem = model_problem(payload)
    if problem is None:
        raise ValueError(f"{checkpoint} learnt from files: evaluate it on them (--data DIR) or name the simulator "
                         "that wrote them (--problem NAME)")
    return problem


def load_sources(
    checkpoint: Path, payload: dict[str, Any], baselines: dict[str, Path],
) -> tuple[dict[str, SavableModel], dict[str, str], dict[str, str | None]]:
    """The models by the name the tables give them, their files, and the commands that trained them."""
    models: dict[str, SavableModel] = {}
    paths, trained_by = {}, {}
    for name, path in [(None, checkpoint), *baselines.items()]:
        model_payload = payload if name is None else read_model_payload(path)
        model = model_from_payload(model_payload, str(path))
        label = name or model.model_name
        if label in models or label in (NAIVE, TRUE):
            raise ValueError(f"two sources are called {label!r}; name the baselines differently")
        models[label], paths[label] = model, str(path)
        trained_by[label] = training_command(model_payload)
    return models, paths, trained_by


def _evaluate_per_k(
    models: dict[str, SavableModel], compvaes: dict[str, CompVAE], problem: PartsProblem, config: EvalConfig,
    document: dict[str, Any],
) -> list[KEvaluation]:
    """The per-K evaluation, under the profile's named conditions too, and the z probe, written into ``document``."""
    evaluation = evaluate(models, problem, config)
    conditioned = {name: evaluate(models, problem, config, whole_attr, heldout_elbo=False,
                                  progress_name=f"distances per K given {name}")
                   for name, whole_attr in profile_of(problem).named_conditions(problem).items()}
    probes = {name: z_probe(model, problem, seed=config.seed) for name, model in compvaes.items()}
    document["settings"]["part_counts"] = [row.k for row in evaluation]
    document["per_k"] = as_json(evaluation)
    if conditioned:
        document["conditions"] = {name: as_json(rows) for name, rows in conditioned.items()}
    if any(probes.values()):
        document["z_probe"] = probes
    return evaluation


def _simulator_sections(whatif_cells: list[WhatIfCell] | None, tail_cells: list[TailCell] | None,
                        tail_model: str | None) -> dict[str, Any]:
    """The what-if and tail sections of the evaluation document, where they were measured."""
    sections: dict[str, Any] = {}
    if whatif_cells is not None:
        sections["whatif"] = whatif_json(whatif_cells)
    if tail_cells is not None:
        sections.update(tail=tail_json(tail_cells), tail_model=tail_model)
    return sections


def _figures(model: SavableModel, problem: PartsProblem, config: EvalConfig, payload: dict[str, Any],
             evaluation: list[KEvaluation]) -> dict[str, Figure]:
    """The first model's figures (with its training's loss curves), and for load curves the planner's.

    Those are the coincidence factors, the daily-peak quantiles and the load-duration curves against n.
    """
    figures = model_figures(model, problem, config.seed, payload.get("training", {}).get("history"))
    if profile_of(problem).planner_hours_per_step is not None and evaluation:
        unit = problem.encoding.unit
        figures.update({"coincidence.png": coincidence_figure(evaluation), "peaks.png": peaks_figure(evaluation, unit),
                        "load_duration.png": load_duration_figure(evaluation, unit)})
    return figures


def log_evaluation(tracker: Tracker, metrics: list[tuple[dict[str, float], int]], artifacts: list[Path]) -> None:
    """The metrics (each at its step) and the artifacts of an evaluation in its MLflow run, which then ends."""
    for values, k in metrics:
        tracker.log_metrics(values, step=k)
    for path in artifacts:
        tracker.log_artifact(path, "evaluation")
    tracker.end("FINISHED")
