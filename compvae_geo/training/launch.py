"""Building a training run from the command line's choices.

A new run from a preset, or a resumed one from its checkpoint (read once), and the command that made a checkpoint.
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import torch

from ..models import CompVAEConfig
from ..models.config import FROM_DATA_MODEL_FIELDS
from ..tracking import Tracker
from .config import TrainConfig
from .distributed import Ranks, broadcast
from .presets import preset
from .spec import RunSpec, resolve_device
from .trainer import Trainer

CHECKPOINT_NAME = "checkpoint.pt"


def default_preset(device: torch.device) -> str:
    """``paper`` on a CUDA device, ``cpu`` otherwise."""
    return "paper" if device.type == "cuda" else "cpu"


def run_directory(out_dir: Path | None, problem: str) -> Path:
    """The directory of a new run, created here.

    ``out_dir`` if given, when it is new or empty (a non-empty one holds another run: refused); else
    ``runs/<problem>-<date>-<time>``, with ``-2``, ``-3``, ... added when that exists (two runs started in
    the same second each get their own: ``mkdir`` is atomic).
    """
    if out_dir is not None:
        if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
            raise ValueError(f"--out-dir {out_dir} exists and is not empty: choose a new directory, or continue its "
                             f"run with --resume {out_dir / CHECKPOINT_NAME}")
        out_dir.mkdir(parents=True, exist_ok=True)
        return out_dir
    base = Path("runs") / f"{problem}-{time.strftime('%Y%m%d-%H%M%S')}"
    base.parent.mkdir(parents=True, exist_ok=True)
    candidate, attempt = base, 1
    while True:
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            attempt += 1
            candidate = base.with_name(f"{base.name}-{attempt}")


def check_writable(directory: Path) -> None:
    """``ValueError`` at once if files cannot be created in ``directory`` (not after minutes of training)."""
    try:
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as error:
        raise ValueError(f"cannot write in {directory}: {error.strerror or error}") from None


def run_description(trainer: Trainer, preset_name: str | None, command: str | None) -> str:
    """The MLflow run description: what trains on which problem, and the command that started it."""
    config = trainer.config
    on = f"the files of {config.data}" if config.data else f"the {config.problem} problem"
    text = (f"{config.model} on {on}, preset {preset_name or 'none'}: {config.iterations} "
            f"steps of {config.batch_size} wholes with up to {config.k_max} parts")
    return text + (f"\n\n`{command}`" if command else "")


def track(trainer: Trainer, experiment: str | None, tracking_uri: str, description: str | None = None,
          run_name: str | None = None, run_id: str | None = None) -> Tracker:
    """Opens the MLflow run of ``trainer`` (a new one, or ``run_id`` to go on), with its dataset input if new."""
    tracker = Tracker(experiment or trainer.config.subject, tracking_uri, run_id=run_id, run_name=run_name,
                      description=description, system_metrics=True)
    if run_id is not None:  # steps logged after the checkpoint, before the run stopped, are not logged again
        tracker.logged_until = tracker.last_logged_step()
    else:
        tracker.log_dataset(**dataset_input(trainer))
    trainer.tracker = tracker
    return tracker


def dataset_input(trainer: Trainer) -> dict[str, Any]:
    """What a run trains on, as :meth:`Tracker.log_dataset` takes it.

    Its problem's generator (name and tags), or its files: their tags, digest, the wholes table's schema and the row
    counts of the splits.
    """
    config, spec = trainer.config, trainer.spec
    if spec.split_sizes is None:
        return {"name": f"{config.problem} generator", "tags": {
            "generator": type(trainer.problem).__module__ + "." + type(trainer.problem).__name__,
            "seed": str(config.seed), "parts_per_whole": f"1..{config.k_max}",
            "wholes": f"{config.iterations * config.batch_size} drawn fresh, {config.batch_size} per step"}}
    dataset, encoding = trainer.problem.dataset, spec.encoding
    columns = {"whole_id": "string",
               **{c.name: "string" if c.kind == "categorical" else "double" for c in encoding.conditions},
               **({encoding.group_column: "string"} if encoding.group_column else {}),
               **dict.fromkeys(encoding.value_columns, "double")}
    profile = {"wholes": len(dataset), "parts": int(dataset.slices["part"][-1]), "dropped": dataset.dropped,
               **{f"{split} wholes": size for split, size in spec.split_sizes.items()}}
    tags = {"directory": str(Path(config.data).resolve()), "files": ", ".join(dataset.raw_file_names),
            "digest": dataset.digest, "split_by": config.split_by, "wholes dropped as incomplete": str(dataset.dropped),
            **{f"{split} wholes": str(size) for split, size in spec.split_sizes.items()}}
    return {"name": f"{Path(config.data).name} files", "tags": tags, "digest": dataset.digest, "columns": columns,
            "profile": profile}


def run_configs(
    preset_name: str | None, train_overrides: dict[str, Any], model_overrides: dict[str, Any], device: torch.device,
    config_file: Path | None = None,
) -> tuple[TrainConfig, dict[str, Any], str | None]:
    """The training config, the model overrides and the preset name of a new run.

    From the preset (default :func:`default_preset`), or from a run's ``config.json`` (``config_file``: its training
    and model fields; the model's data-defined fields come from the data again), then the overrides.
    """
    if config_file is None:
        name = preset_name or default_preset(device)
        # recorded data: the generic preset, without a problem's own choices
        problem = None if train_overrides.get("data") else train_overrides.get("problem", TrainConfig.problem)
        train_config, preset_model = preset(name, problem)
        return replace(train_config, **train_overrides), {**preset_model, **model_overrides}, name
    if preset_name is not None:
        raise ValueError("--config gives the whole configuration: --preset cannot be used with it")
    recorded = read_run_config(config_file)
    train_config = replace(TrainConfig.from_dict(recorded["train"]), **train_overrides)
    model = {key: value for key, value in recorded["model"].items() if key not in FROM_DATA_MODEL_FIELDS}
    return train_config, {**model, **model_overrides}, None


def read_run_config(path: Path) -> dict[str, dict[str, Any]]:
    """A run's ``config.json``: ``{"train": {...}, "model": {...}}`` (``ValueError`` naming the file otherwise)."""
    try:
        recorded = json.loads(path.read_text())
    except OSError as error:
        raise ValueError(f"cannot read --config {path}: {error.strerror or error}") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"--config {path} is not JSON: {error}") from None
    if not isinstance(recorded, dict) or not all(isinstance(recorded.get(key), dict) for key in ("train", "model")):
        raise ValueError(f"--config {path} is not a run's config.json: it needs a 'train' and a 'model' object")
    unknown = set(recorded["model"]) - {field.name for field in fields(CompVAEConfig)}
    if unknown:
        raise ValueError(f"--config {path}: unknown model fields {sorted(unknown)}")
    try:
        TrainConfig.from_dict(recorded["train"])
    except (TypeError, ValueError) as error:
        raise ValueError(f"--config {path}: {error}") from None
    return recorded


def resolved_config(spec: RunSpec) -> dict[str, Any]:
    """What a run uses, as ``--print-config`` shows it and ``--config`` reads it back."""
    return {"preset": spec.preset, "train": spec.train.to_dict(), "model": spec.model.to_dict()}


def new_spec(
    preset_name: str | None, train_overrides: dict[str, Any], model_overrides: dict[str, Any],
    device: torch.device | None = None, config_file: Path | None = None,
) -> RunSpec:
    """The checked choices of a new run (see :func:`run_configs`), with no directory and no MLflow run yet."""
    device = device or resolve_device(train_overrides.get("device", TrainConfig.device))
    train_config, model, name = run_configs(preset_name, train_overrides, model_overrides, device, config_file)
    return RunSpec.build(train_config, CHECKPOINT_NAME, model, preset=name, device=device)


def new_run(
    preset_name: str | None,
    train_overrides: dict[str, Any],
    model_overrides: dict[str, Any],
    out_dir: Path | None,
    experiment: str | None,
    tracking_uri: str,
    command: str | None = None,
    ranks: Ranks | None = None,
    device: torch.device | None = None,
    config_file: Path | None = None,
) -> tuple[Trainer, Path]:
    """A fresh run.

    The preset (default :func:`default_preset`) or ``config_file`` with the overrides (:func:`new_spec`), its
    directory (see :func:`run_directory`) and its MLflow run (experiment: the problem). Everything is validated
    before the directory and the MLflow run are made, so a refused run leaves nothing behind.
    Under ``torchrun`` (``ranks``), rank 0 makes the directory and the MLflow run; every rank builds a trainer.
    ``device``: the overrides' device already resolved (default: resolved here).
    """
    ranks = ranks or Ranks()
    spec = new_spec(preset_name, train_overrides, model_overrides, device, config_file)
    ranks.share(spec.train.batch_size)
    if ranks.is_main:
        out_dir = run_directory(out_dir, spec.train.subject)
    out_dir = broadcast(out_dir)
    try:
        if ranks.is_main:
            check_writable(out_dir)
        trainer = Trainer(replace(spec, checkpoint=out_dir / CHECKPOINT_NAME), ranks=ranks)
    except BaseException:
        if ranks.is_main and not any(out_dir.iterdir()):
            out_dir.rmdir()
        raise
    if ranks.is_main:
        track(trainer, experiment, tracking_uri, run_description(trainer, spec.preset, command), run_name=out_dir.name)
    return trainer, out_dir


def resumed_run(
    checkpoint: Path, train_overrides: dict[str, Any], experiment: str | None, tracking_uri: str,
    ranks: Ranks | None = None, device: torch.device | None = None,
) -> tuple[Trainer, Path]:
    """The run of ``checkpoint``, continued in its MLflow run (experiment: its problem).

    The overrides are checked before the MLflow run is touched: a refused resume leaves it as it was.
    Under ``torchrun`` every rank reads the checkpoint, and rank 0 reopens the MLflow run.
    """
    ranks = ranks or Ranks()
    payload = Trainer.read_checkpoint(checkpoint)
    if ranks.is_main:
        check_writable(checkpoint.parent)
    trainer = Trainer.resume(checkpoint, payload, None, ranks, device, **train_overrides)
    if ranks.is_main:
        track(trainer, experiment or payload["training"]["config"]["problem"], tracking_uri,
              run_id=payload["training"]["run_id"])
    return trainer, checkpoint.parent


def torchrun_restart_checkpoint(out_dir: Path | None) -> Path | None:
    """After ``torchrun`` restarted the workers (``--max-restarts``), the checkpoint in ``out_dir`` to go on from.

    ``out_dir`` is ``--out-dir`` or :func:`torchrun_directory`. None on a first start, without a directory,
    or when no checkpoint was written yet.
    """
    if int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")) == 0 or out_dir is None:
        return None
    checkpoint = out_dir / CHECKPOINT_NAME
    return checkpoint if checkpoint.is_file() else None


def torchrun_directory(problem: str) -> Path | None:
    """The default directory of a ``torchrun`` run: ``runs/<problem>-<run id>``, the same after restarts.

    None without a run id of its own (``torchrun --standalone`` makes one; ``--rdzv-id`` names one).
    """
    run_id = os.environ.get("TORCHELASTIC_RUN_ID", "")
    return Path("runs") / f"{problem}-{run_id}" if run_id and run_id != "none" else None


def _format_flag_value(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def training_command(payload: dict[str, Any]) -> str | None:
    """The ``compvae-geo train`` command that made a training checkpoint.

    Its preset (where the checkpoint records it) and the flags whose values differ from it; a checkpoint written
    before presets were recorded is read against the CPU preset of its problem. None for a bare model file.
    """
    state = payload.get("training")
    if not state:
        return None
    # through the config classes, so that fields added after the checkpoint was written count
    # with the value it was trained with (their default), not the current preset's
    train = TrainConfig.from_dict(state["config"])
    name = state.get("preset")
    problem = None if train.data else train.problem  # a run of files starts from the generic preset
    preset_train, preset_model = preset(name or "cpu", problem)
    defaults = {**preset_train.to_dict(), **CompVAEConfig(**preset_model).to_dict()}
    flags = ([f"--problem {problem}"] if problem else []) + ([f"--preset {name}"] if name else [])
    used = {**train.to_dict(), **CompVAEConfig.from_dict(payload["config"]).to_dict()}
    for key, value in used.items():
        if key in FROM_DATA_MODEL_FIELDS or key == "problem" or value == defaults.get(key):
            continue
        flags.append(f"--{key.replace('_', '-')} {_format_flag_value(value)}")
    return "compvae-geo train " + " ".join(flags)
