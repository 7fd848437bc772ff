"""``compvae-geo train`` (a new or resumed run, with a progress bar) and ``compvae-geo log-model``."""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from ..models.config import FROM_DATA_MODEL_FIELDS, CompVAEConfig
from ..problems import PROBLEM_NAMES
from ..tracking import DEFAULT_TRACKING_URI, resolve_tracking_uri
from ..training.config import MODEL_NAMES, TrainConfig
from ..training.presets import PRESETS
from .common import DIVERGED_EXIT_CODE, INTERRUPTED_EXIT_CODE, add_config_overrides, config_overrides


def add_train_arguments(train: argparse.ArgumentParser) -> None:
    """``compvae-geo train``: a new or resumed run, every config field a flag."""
    train.add_argument("--preset", choices=sorted(PRESETS), default=None,
                       help="'cpu' (default without a GPU) or 'paper' (default with one)")
    train.add_argument("--resume", type=Path, default=None, metavar="CHECKPOINT",
                       help="continue the run of this checkpoint (same MLflow run, step and schedule)")
    train.add_argument("--out-dir", type=Path, default=None, help="default: runs/<problem>-<date>-<time>")
    train.add_argument("--tracking-uri", default=None,
                       help=f"MLflow store (default $MLFLOW_TRACKING_URI, else {DEFAULT_TRACKING_URI})")
    train.add_argument("--experiment", default=None, help="MLflow experiment (default: the problem name)")
    train.add_argument("--figures", action=argparse.BooleanOptionalAction, default=True,
                       help="draw the model's figures beside the checkpoint at the end (default: yes; a few seconds)")
    train.add_argument("--log-model", action=argparse.BooleanOptionalAction, default=True,
                       help="log the trained model (best.pt where kept, else the checkpoint) as an MLflow Model in "
                            "the run at the end (default: yes)")
    train.add_argument("--register-model", default=None, metavar="NAME",
                       help="also register it in the MLflow Model Registry as a new version of NAME")
    train.add_argument("--config", type=Path, default=None, metavar="CONFIG_JSON",
                       help="start from a run's config.json (its training and model fields) instead of a preset; "
                            "flags override it")
    train.add_argument("--print-config", action="store_true",
                       help="print the configuration the run would use (preset or --config, then the flags) as JSON, "
                            "and exit without training")
    add_config_overrides(train, TrainConfig, set(), "training",
                          choices={"problem": PROBLEM_NAMES, "model": MODEL_NAMES})
    add_config_overrides(train, CompVAEConfig, FROM_DATA_MODEL_FIELDS, "model")


def run_train(args: argparse.Namespace) -> int:
    """Trains (or resumes) one run, with a progress bar; Ctrl-C saves a checkpoint.

    Every run that ends abnormally is marked in MLflow: KILLED on Ctrl-C, FAILED on an error or a
    diverged training (exit code 3). Under ``torchrun`` every process runs this: they join one process
    group, rank 0 alone prints, tracks and writes, and after a restart of the workers (``--max-restarts``)
    the run goes on from its last checkpoint.
    """
    from ..training.distributed import Ranks, destroy_process_group, init_process_group
    from ..training.launch import new_run, resumed_run, torchrun_directory, torchrun_restart_checkpoint
    from ..training.spec import resolve_device

    ranks = Ranks.from_environment()
    tracking_uri = resolve_tracking_uri(args.tracking_uri)
    train_overrides = config_overrides(args, TrainConfig)
    device = resolve_device(train_overrides.get("device", TrainConfig.device))  # a resumed run: its checkpoint's
    if args.print_config:
        return _print_config(args, train_overrides, device)
    init_process_group(ranks, device)
    trainer, finished = None, False
    try:
        resume, out_dir = args.resume, args.out_dir
        if resume is None and ranks.distributed:
            out_dir = out_dir or torchrun_directory(train_overrides.get("problem", TrainConfig.problem))
            resume = torchrun_restart_checkpoint(out_dir)
        if resume is not None:
            trainer, out_dir = resumed_run(resume, train_overrides, args.experiment, tracking_uri, ranks)
        else:
            model_overrides = config_overrides(args, CompVAEConfig, FROM_DATA_MODEL_FIELDS)
            trainer, out_dir = new_run(args.preset, train_overrides, model_overrides, out_dir, args.experiment,
                                       tracking_uri, "compvae-geo " + shlex.join(args.argv), ranks, device,
                                       args.config)
        try:
            code = _train(trainer, out_dir, args)
            finished = True
            return code
        except KeyboardInterrupt:
            _end_run(trainer, "KILLED")
            print(f"interrupted; the last checkpoint is {trainer.checkpoint_path} (step {trainer.saved_step})",
                  file=sys.stderr)
            return INTERRUPTED_EXIT_CODE
        except BaseException:
            _end_run(trainer, "FAILED")
            raise
    finally:
        if trainer is not None:
            trainer.close()
        if finished:  # after an error the other ranks may be gone: torchrun stops them, no collective teardown
            destroy_process_group()


def _print_config(args: argparse.Namespace, train_overrides: dict[str, Any], device: Any) -> int:
    """``train --print-config``: the resolved configuration of the new run, as JSON; nothing is made."""
    from ..training.launch import new_spec, resolved_config

    if args.resume is not None:
        raise ValueError("--print-config shows a new run's configuration; a checkpoint's is in the config.json "
                         "beside it (--resume continues it as it was)")
    model_overrides = config_overrides(args, CompVAEConfig, FROM_DATA_MODEL_FIELDS)
    spec = new_spec(args.preset, train_overrides, model_overrides, device, args.config)
    print(json.dumps(resolved_config(spec), indent=2))
    return 0


def _end_run(trainer: Any, status: str) -> None:
    if trainer.tracker is not None:  # rank 0's
        trainer.tracker.end(status)


def _train(trainer: Any, out_dir: Path, args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..evaluation.artifacts import write_artifacts

    config = trainer.config
    if not trainer.ranks.is_main:  # torchrun: rank 0 prints, tracks and writes
        result = trainer.run()
        return INTERRUPTED_EXIT_CODE if result.interrupted else DIVERGED_EXIT_CODE if result.diverged else 0
    started = time.monotonic()
    processes = f" x {trainer.ranks.world_size} processes" if trainer.ranks.distributed else ""
    print(f"training {config.subject} on {trainer.device}{processes}: {config.iterations} steps of "
          f"{config.batch_size} wholes, MLflow run {trainer.tracker.run_id} ({trainer.tracker.tracking_uri}), "
          f"files in {out_dir}", flush=True)
    bar = tqdm(total=config.iterations, initial=trainer.step, unit="step", dynamic_ncols=True)

    def on_log(step: int, metrics: dict[str, float]) -> None:
        bar.update(step - bar.n)
        if "loss/elbo_bits" in metrics:
            bar.set_postfix(w=f"{metrics['loss/w_bits']:.1f}", z=f"{metrics['loss/z_bits']:.1f}",
                            x=f"{metrics['loss/x_bits']:.0f}", k_max=int(metrics["k_max"]), refresh=False)

    result = trainer.run(on_log)
    bar.close()
    if result.interrupted:
        trainer.tracker.end("KILLED")
        print(f"interrupted at step {result.step}; checkpoint saved: {result.checkpoint}\n"
              f"continue with: compvae-geo train --resume {result.checkpoint}")
        return INTERRUPTED_EXIT_CODE
    if result.diverged:
        trainer.tracker.end("FAILED")
        print(f"compvae-geo: error: the training diverged: {result.skipped_steps} of {result.step} steps had a "
              f"non-finite loss or gradient (more than --max-skipped-share {config.max_skipped_share}); the "
              f"checkpoint {result.checkpoint} holds the last finite weights. Try a lower --lr.", file=sys.stderr)
        return DIVERGED_EXIT_CODE
    write_artifacts(trainer, out_dir, args.figures)
    if args.log_model and trainer.tracker.available:
        _log_trained_model(trainer, args.register_model)
    trainer.tracker.end("FINISHED")
    minutes = (time.monotonic() - started) / 60
    last = trainer.history[-1] if trainer.history else {}
    tracking = (f"MLflow run {trainer.tracker.run_id} in experiment '{trainer.tracker.experiment_name}' "
                f"({trainer.tracker.tracking_uri}; see it with: mlflow ui --backend-store-uri "
                f"{trainer.tracker.tracking_uri})")
    if result.tracking_failure:
        tracking = f"MLflow tracking stopped during the run ({result.tracking_failure}); all files are local"
    print(f"done: {result.step} steps ({result.skipped_steps} skipped) in {minutes:.1f} min; "
          f"last losses in bits: L_w {last.get('w', float('nan')):.1f}, L_z {last.get('z', float('nan')):.1f}, "
          f"L_x {last.get('x', float('nan')):.1f}\nmodel: {result.checkpoint}\n{tracking}")
    if trainer.best is not None:
        early = (f"stopped early: the held-out ELBO had not improved for {config.patience} evaluations; "
                 if result.stopped_early else "")
        print(f"{early}the best weights (held-out ELBO {trainer.best[1]:.1f} bits at step {trainer.best[0]}) are in "
              f"{trainer.best_path}")
    return 0


def _log_trained_model(trainer: Any, registered_name: str | None) -> None:
    """The run's model logged (and registered) in its MLflow run; a failure is reported, the training stands."""
    from ..serving import log_model

    weights = trainer.best_path if trainer.best is not None else trainer.checkpoint_path
    try:
        info = log_model(weights, trainer.tracker.tracking_uri, trainer.tracker.run_id, registered_name)
    except Exception as error:  # the training is done and its files are local: say so, and go on
        print(f"compvae-geo: warning: could not log the MLflow Model ({str(error).splitlines()[0]}); log it with: "
              f"compvae-geo log-model --checkpoint {weights}", file=sys.stderr)
        return
    registered = f", registered as models:/{registered_name}/{info.registered_model_version}" if registered_name else ""
    print(f"MLflow Model: {info.model_uri}{registered}")


def run_log_model(args: argparse.Namespace) -> int:
    """Logs an existing checkpoint as an MLflow Model."""
    from ..serving import log_model

    if not args.checkpoint.is_file():
        raise FileNotFoundError(f"no checkpoint at {args.checkpoint}")
    info = log_model(args.checkpoint, args.tracking_uri, args.run_id, args.register)
    registered = f"; registered as models:/{args.register}/{info.registered_model_version}" if args.register else ""
    print(f"logged {args.checkpoint} as the MLflow Model {info.model_uri} (run {info.run_id}){registered}")
    return 0


def add_log_model_arguments(log: argparse.ArgumentParser) -> None:
    """``compvae-geo log-model``: a checkpoint as an MLflow Model."""
    log.add_argument("--checkpoint", type=Path, required=True)
    log.add_argument("--register", default=None, metavar="NAME",
                     help="also register it in the Model Registry as a new version of NAME")
    log.add_argument("--run-id", default=None,
                     help="the MLflow run to log it in (default: the checkpoint's training run, else none)")
    log.add_argument("--tracking-uri", default=None,
                     help=f"MLflow store (default $MLFLOW_TRACKING_URI, else {DEFAULT_TRACKING_URI})")
