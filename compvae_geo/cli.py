"""The ``compvae-geo`` command line: ``train`` and ``generate``."""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import fields, replace
from pathlib import Path
from typing import Any, Sequence

import torch

from .config import CompVAEConfig
from .evaluate import DEFAULT_PART_COUNTS, as_json, format_table, sample_distances
from .figures import loss_curves_figure, recomposition_figure, samples_figure
from .model import CompVAE
from .problems import PROBLEMS, make_problem, model_config_for
from .tracking import DEFAULT_TRACKING_URI, Tracker, TrackingUnavailable, resolve_tracking_uri
from .train_config import PRESETS, TrainConfig, preset
from .training import Trainer, resolve_device

DATA_DEFINED_MODEL_FIELDS = {"num_categories", "obs_shape", "part_attr_dim", "observation"}
INTERRUPTED_EXIT_CODE = 130  # the shell's code for a process stopped by Ctrl-C
RECOMPOSITION_PARTS = 5  # parts in the recomposition figure (paper Fig. 5)


def _parse_bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _parse_ints(text: str) -> tuple[int, ...]:
    return tuple(int(item) for item in text.split(",") if item.strip())


def _add_config_overrides(parser: argparse.ArgumentParser, config_cls, skip: set[str], title: str) -> None:
    group = parser.add_argument_group(title, "override any field of the preset")
    for field in fields(config_cls):
        if field.name in skip:
            continue
        default = getattr(config_cls(), field.name)
        kind = {bool: _parse_bool, tuple: _parse_ints}.get(type(default), type(default))
        metavar = "A,B,..." if isinstance(default, tuple) else type(default).__name__.upper()
        group.add_argument(f"--{field.name.replace('_', '-')}", dest=field.name, type=kind, default=None,
                           metavar=metavar, help=f"(default {default})")


def _overrides(args: argparse.Namespace, config_cls, skip: set[str] = frozenset()) -> dict[str, Any]:
    return {f.name: getattr(args, f.name) for f in fields(config_cls)
            if f.name not in skip and getattr(args, f.name, None) is not None}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="compvae-geo", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train a CompVAE, tracked in MLflow")
    train.add_argument("--preset", choices=sorted(PRESETS), default=None,
                       help="'cpu' (default without a GPU) or 'paper' (default with one)")
    train.add_argument("--resume", type=Path, default=None, metavar="CHECKPOINT",
                       help="continue the run of this checkpoint (same MLflow run, step and schedule)")
    train.add_argument("--out-dir", type=Path, default=None, help="default: runs/<problem>-<date>-<time>")
    train.add_argument("--tracking-uri", default=None,
                       help=f"MLflow store (default $MLFLOW_TRACKING_URI, else {DEFAULT_TRACKING_URI})")
    train.add_argument("--experiment", default=None, help="MLflow experiment (default: the problem name)")
    _add_config_overrides(train, TrainConfig, set(), "training")
    _add_config_overrides(train, CompVAEConfig, DATA_DEFINED_MODEL_FIELDS, "model")

    generate = commands.add_parser("generate", help="generate wholes for given parts")
    generate.add_argument("--checkpoint", type=Path, required=True)
    generate.add_argument("--parts", type=_parse_ints, required=True, metavar="L1,L2,...",
                          help="categories of the parts, e.g. 0,3,3,7")
    generate.add_argument("--num-samples", type=int, default=8)
    generate.add_argument("--seed", type=int, default=0)
    generate.add_argument("--problem", choices=sorted(PROBLEMS), default=None,
                          help="also draw true wholes of this problem in the plot")
    generate.add_argument("--out", type=Path, default=Path("generated.csv"),
                          help="where the wholes go: .csv (one per row), .pt or .npy; a .png plot goes beside it")
    evaluate = commands.add_parser("evaluate", help="MMD^2 of generated vs true wholes per K")
    evaluate.add_argument("--checkpoint", type=Path, required=True)
    evaluate.add_argument("--problem", choices=sorted(PROBLEMS), default=None,
                          help="default: the checkpoint's training problem")
    evaluate.add_argument("--part-counts", type=_parse_ints, default=DEFAULT_PART_COUNTS, metavar="K1,K2,...")
    evaluate.add_argument("--num-samples", type=int, default=256, help="wholes per multiset and source")
    evaluate.add_argument("--multisets", type=int, default=4, help="random multisets per K")
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        return {"train": run_train, "generate": run_generate, "evaluate": run_evaluate}[args.command](args)
    except (ValueError, TrackingUnavailable, FileNotFoundError) as error:
        print(f"compvae-geo: error: {error}", file=sys.stderr)
        return 2


# ----- train ---------------------------------------------------------------------------------

def _make_trainer(args: argparse.Namespace) -> tuple[Trainer, Path]:
    tracking_uri = resolve_tracking_uri(args.tracking_uri)
    train_overrides = _overrides(args, TrainConfig)
    if args.resume is not None:
        state = Trainer.read_checkpoint(args.resume)["training"]
        experiment = args.experiment or state["config"]["problem"]
        trainer = Trainer.resume(args.resume, lambda run_id: Tracker(experiment, tracking_uri, run_id=run_id),
                                 **train_overrides)
        return trainer, args.resume.parent
    problem_name = train_overrides.get("problem", TrainConfig.problem)
    default_preset = "paper" if resolve_device(train_overrides.get("device", "auto")).type == "cuda" else "cpu"
    train_config, model_overrides = preset(args.preset or default_preset, problem_name)
    train_config = replace(train_config, **train_overrides)
    model_overrides.update(_overrides(args, CompVAEConfig, DATA_DEFINED_MODEL_FIELDS))
    model_config = model_config_for(make_problem(train_config.problem), **model_overrides)
    out_dir = args.out_dir or Path("runs") / f"{train_config.problem}-{time.strftime('%Y%m%d-%H%M%S')}"
    out_dir.mkdir(parents=True, exist_ok=True)
    tracker = Tracker(args.experiment or train_config.problem, tracking_uri, run_name=out_dir.name)
    return Trainer(train_config, model_config, out_dir / "checkpoint.pt", tracker), out_dir


def run_train(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    trainer, out_dir = _make_trainer(args)
    config = trainer.config
    started = time.monotonic()
    print(f"training {config.problem} on {trainer.device}: {config.iterations} steps of {config.batch_size} wholes, "
          f"MLflow run {trainer.tracker.run_id} ({trainer.tracker.tracking_uri})", flush=True)
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
    _write_artifacts(trainer, out_dir)
    trainer.tracker.end("FINISHED")
    minutes = (time.monotonic() - started) / 60
    last = trainer.history[-1] if trainer.history else {}
    tracking = (f"MLflow run {trainer.tracker.run_id} in experiment '{args.experiment or config.problem}' "
                f"({trainer.tracker.tracking_uri}; see it with: mlflow ui --backend-store-uri "
                f"{trainer.tracker.tracking_uri})")
    if result.tracking_failure:
        tracking = f"MLflow tracking stopped during the run ({result.tracking_failure}); all files are local"
    print(f"done: {result.step} steps ({result.skipped_steps} skipped) in {minutes:.1f} min; "
          f"last losses in bits: L_w {last.get('w', float('nan')):.1f}, L_z {last.get('z', float('nan')):.1f}, "
          f"L_x {last.get('x', float('nan')):.1f}\nmodel: {result.checkpoint}\n{tracking}")
    return 0


def _write_artifacts(trainer: Trainer, out_dir: Path) -> None:
    config_path = out_dir / "config.json"
    config_path.write_text(json.dumps({"train": trainer.config.to_dict(), "model": trainer.model.config.to_dict()},
                                      indent=2))
    figures = {"loss_curves.png": loss_curves_figure(trainer.history)}
    generator = torch.Generator().manual_seed(trainer.config.seed)
    parts = torch.randint(0, trainer.problem.num_categories, (RECOMPOSITION_PARTS,), generator=generator)
    part_attr = trainer.problem.sample_part_attr(RECOMPOSITION_PARTS, generator, torch.device("cpu"))
    model = trainer.model.cpu().eval()
    figures["recomposition.png"] = recomposition_figure(model, parts, part_attr, seed=trainer.config.seed)
    for name, figure in figures.items():
        figure.savefig(out_dir / name, dpi=120)
        trainer.tracker.log_artifact(out_dir / name, "figures")
    trainer.tracker.log_artifact(config_path)
    trainer.tracker.log_artifact(trainer.checkpoint_path)


# ----- generate ------------------------------------------------------------------------------

def run_generate(args: argparse.Namespace) -> int:
    model = CompVAE.load(args.checkpoint).eval()
    parts = torch.tensor(args.parts, dtype=torch.long)
    torch.manual_seed(args.seed)
    samples = model.generate(parts, args.num_samples)
    reference = None
    if args.problem is not None:
        reference = make_problem(args.problem).sample_wholes(parts, args.num_samples,
                                                            generator=torch.Generator().manual_seed(args.seed))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    suffix = args.out.suffix.lower()
    if suffix == ".pt":
        torch.save(samples, args.out)
    elif suffix == ".npy":
        import numpy as np

        np.save(args.out, samples.numpy())
    elif suffix == ".csv":
        import numpy as np

        np.savetxt(args.out, samples.flatten(1).numpy(), delimiter=",", fmt="%.6g")
    else:
        raise ValueError(f"--out must end in .csv, .pt or .npy, got {args.out}")
    plot = args.out.with_suffix(".png")
    title = f"{args.num_samples} wholes generated for parts {list(args.parts)}"
    samples_figure(samples, title + (" (grey: true)" if reference is not None else ""), reference).savefig(plot, dpi=120)
    print(f"wrote {args.out} ({tuple(samples.shape)}) and {plot}")
    return 0


# ----- evaluate ------------------------------------------------------------------------------

def run_evaluate(args: argparse.Namespace) -> int:
    payload = torch.load(args.checkpoint, map_location="cpu", weights_only=True)
    problem_name = args.problem or payload.get("training", {}).get("config", {}).get("problem", "sine")
    model = CompVAE.load(args.checkpoint)
    started = time.monotonic()
    torch.manual_seed(args.seed)
    reports = sample_distances(model, make_problem(problem_name), args.part_counts, args.num_samples,
                               args.multisets, args.seed)
    print(format_table(reports))
    print(f"({args.multisets} multisets x {args.num_samples} wholes per K, {time.monotonic() - started:.0f} s)")
    if args.json is not None:
        args.json.write_text(json.dumps({"problem": problem_name, "checkpoint": str(args.checkpoint),
                                         "per_k": as_json(reports)}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
