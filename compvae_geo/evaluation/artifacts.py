"""The files a finished training run leaves beside its checkpoint: its configuration and the model's figures."""
from __future__ import annotations

import json
from pathlib import Path

from ..training.launch import resolved_config
from ..training.trainer import Trainer
from .figures import loss_curves_figure, model_figures


def write_artifacts(trainer: Trainer, out_dir: Path, draw_figures: bool = True) -> None:
    """``config.json`` (what ``train --config`` reads back) and, with ``draw_figures``, the model's figures.

    Beside the checkpoint, each also logged to MLflow with the checkpoint.
    """
    config_path = out_dir / "config.json"
    config_path.write_text(json.dumps(resolved_config(trainer.spec), indent=2))
    if not draw_figures:
        figures = {}
    elif trainer.spec.split_sizes is None:  # a generator: the paper's figures against it
        figures = model_figures(trainer.model, trainer.problem, trainer.config.seed, trainer.history)
    else:  # recorded data: the loss curves (the evaluation against the files is evaluate's)
        figures = {"loss_curves.png": loss_curves_figure(trainer.history)} if trainer.history else {}
    for name, figure in figures.items():
        figure.savefig(out_dir / name, dpi=120)
        trainer.tracker.log_artifact(out_dir / name, "figures")
    trainer.tracker.log_artifact(config_path)
    trainer.tracker.log_artifact(trainer.checkpoint_path)
