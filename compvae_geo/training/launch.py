"""Building a training run from the command line's choices.

A new run from a preset, or a resumed one from its checkpoint (read once), and the files a finished run leaves beside
its checkpoint.
"""
from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..models import CompVAEConfig
from ..problems import DATA_DEFINED_MODEL_FIELDS, make_problem, model_config_for
from .config import TrainConfig
from .presets import preset
from .tracking import Tracker
from .trainer import Trainer, resolve_device

CHECKPOINT_NAME = "checkpoint.pt"


def default_preset(device: str) -> str:
    """``paper`` on a CUDA device, ``cpu`` otherwise."""
    return "paper" if resolve_device(device).type == "cuda" else "cpu"


def new_run(
    preset_name: str | None,
    train_overrides: dict[str, Any],
    model_overrides: dict[str, Any],
    out_dir: Path | None,
    experiment: str | None,
    tracking_uri: str,
) -> tuple[Trainer, Path]:
    """A fresh run.

    The preset (default :func:`default_preset`) with the overrides, its directory (default
    ``runs/<problem>-<date>-<time>``) and its MLflow run (experiment: the problem).
    """
    problem_name = train_overrides.get("problem", TrainConfig.problem)
    name = preset_name or default_preset(train_overrides.get("device", TrainConfig.device))
    train_config, preset_model = preset(name, problem_name)
    train_config = replace(train_config, **train_overrides)
    model_config = model_config_for(make_problem(train_config.problem), **{**preset_model, **model_overrides})
    out_dir = out_dir or Path("runs") / f"{train_config.problem}-{time.strftime('%Y%m%d-%H%M%S')}"
    out_dir.mkdir(parents=True, exist_ok=True)
    tracker = Tracker(experiment or train_config.problem, tracking_uri, run_name=out_dir.name)
    return Trainer(train_config, model_config, out_dir / CHECKPOINT_NAME, tracker), out_dir


def resumed_run(
    checkpoint: Path, train_overrides: dict[str, Any], experiment: str | None, tracking_uri: str
) -> tuple[Trainer, Path]:
    """The run of ``checkpoint``, continued in its MLflow run (experiment: its problem)."""
    payload = Trainer.read_checkpoint(checkpoint)
    state = payload["training"]
    tracker = Tracker(experiment or state["config"]["problem"], tracking_uri, run_id=state["run_id"])
    return Trainer.resume(checkpoint, payload, tracker, **train_overrides), checkpoint.parent


def write_artifacts(trainer: Trainer, out_dir: Path) -> None:
    """``config.json`` and the model's figures beside the checkpoint, each also logged to MLflow."""
    from ..evaluation.figures import model_figures

    config_path = out_dir / "config.json"
    config_path.write_text(json.dumps({"train": trainer.config.to_dict(), "model": trainer.model.config.to_dict()},
                                      indent=2))
    figures = model_figures(trainer.model, trainer.problem, trainer.config.seed, trainer.history)
    for name, figure in figures.items():
        figure.savefig(out_dir / name, dpi=120)
        trainer.tracker.log_artifact(out_dir / name, "figures")
    trainer.tracker.log_artifact(config_path)
    trainer.tracker.log_artifact(trainer.checkpoint_path)


def _format_flag_value(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def training_command(payload: dict[str, Any]) -> str | None:
    """The ``compvae-geo train`` command that made a training checkpoint.

    The flags whose values differ from the CPU preset of its problem (None for a bare model file).
    """
    state = payload.get("training")
    if not state:
        return None
    train = state["config"]
    problem = train.get("problem", TrainConfig.problem)
    preset_train, preset_model = preset("cpu", problem)
    defaults = {**preset_train.to_dict(), **model_config_for(make_problem(problem), **preset_model).to_dict()}
    flags = [f"--problem {problem}"]
    # Through the config classes, so that fields added after the checkpoint was written count
    # with the value it was trained with (their default), not the current preset's.
    used = {**TrainConfig.from_dict(train).to_dict(), **CompVAEConfig.from_dict(payload["config"]).to_dict()}
    for key, value in used.items():
        if key in DATA_DEFINED_MODEL_FIELDS or key == "problem" or value == defaults.get(key):
            continue
        flags.append(f"--{key.replace('_', '-')} {_format_flag_value(value)}")
    return "compvae-geo train " + " ".join(flags)
