"""The ``compvae-geo`` command line: ``train``, ``generate``, ``evaluate`` and ``report``."""
from __future__ import annotations

import argparse
import json
import logging
import shlex
import shutil
import sys
import time
from dataclasses import fields, replace
from pathlib import Path
from typing import Any, Sequence

import torch

from .config import CompVAEConfig
from .checkpoint import read_model_payload
from .evaluate import NAIVE, TRUE, as_json, as_metrics, evaluate, format_table
from .figures import model_figures, samples_figure
from .models import load_model, model_from_payload
from .problems import DATA_DEFINED_MODEL_FIELDS, PROBLEMS, make_problem, model_config_for, problem_of_model
from .report import results_markdown
from .tracking import DEFAULT_TRACKING_URI, Tracker, TrackingUnavailable, resolve_tracking_uri
from .train_config import PRESETS, TrainConfig, preset
from .training import Trainer, resolve_device

INTERRUPTED_EXIT_CODE = 130  # the shell's code for a process stopped by Ctrl-C


def _parse_bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _parse_ints(text: str) -> tuple[int, ...]:
    return tuple(int(item) for item in text.split(",") if item.strip())


def _parse_rows(text: str) -> list[list[float]]:
    return [[float(value) for value in row.split(",")] for row in text.split(";") if row.strip()]


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
    generate.add_argument("--part-attr", type=_parse_rows, default=None, metavar="A,B;C,D;...",
                          help="descriptors of each part, one row per part (sites: x,y locations, e.g. '0.1,0.5;-0.4,0')")
    generate.add_argument("--num-samples", type=int, default=8)
    generate.add_argument("--seed", type=int, default=0)
    generate.add_argument("--problem", choices=sorted(PROBLEMS), default=None,
                          help="also draw true wholes of this problem in the plot")
    generate.add_argument("--out", type=Path, default=Path("generated.csv"),
                          help="where the wholes go: .csv (one per row), .pt or .npy; a .png plot goes beside it")
    evaluate = commands.add_parser("evaluate", help="distances of generated to true wholes per K, with baselines")
    evaluate.add_argument("--checkpoint", type=Path, required=True, help="the model to evaluate")
    evaluate.add_argument("--baseline", action="append", default=[], metavar="NAME=CHECKPOINT",
                          help="another trained model to compare, e.g. count_cvae=runs/cvae/checkpoint.pt (repeatable)")
    evaluate.add_argument("--problem", choices=sorted(PROBLEMS), default=None,
                          help="default: the checkpoint's training problem, or for a bare model file "
                               "the problem whose data its config fits")
    evaluate.add_argument("--part-counts", type=_parse_ints, default=None, metavar="K1,K2,...",
                          help="default: the problem's (sine: 1,2,4,8,12,16,24,32,64; sites: 1,2,4,8,12,16)")
    evaluate.add_argument("--num-samples", type=int, default=256, help="wholes per multiset and source")
    evaluate.add_argument("--multisets", type=int, default=4, help="random multisets per K")
    evaluate.add_argument("--permutations", type=int, default=200, help="permutations for the MMD^2 p-value")
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.add_argument("--out-dir", type=Path, default=None,
                          help="where evaluation.json and the figures go (default: <checkpoint dir>/evaluation)")
    evaluate.add_argument("--run-id", default=None,
                          help="MLflow run to log into (default: the checkpoint's training run, else a new run)")
    evaluate.add_argument("--tracking-uri", default=None,
                          help=f"MLflow store (default $MLFLOW_TRACKING_URI, else {DEFAULT_TRACKING_URI})")
    evaluate.add_argument("--no-mlflow", action="store_true", help="do not log to MLflow")

    report = commands.add_parser("report", help="write docs/<problem>_results.md from an evaluation.json")
    report.add_argument("--evaluation", type=Path, required=True, help="an evaluation.json of 'evaluate'")
    report.add_argument("--out", type=Path, default=None,
                        help="the Markdown file (default: docs/<problem>_results.md); its figures go to "
                             "figures/<problem>/ next to it, so the problems never overwrite each other's")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv  # to record how a result was made
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        commands = {"train": run_train, "generate": run_generate, "evaluate": run_evaluate, "report": run_report}
        return commands[args.command](args)
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
    prior_fit = f", then {config.prior_fit_steps} steps fitting the generation prior" if config.prior_fit_steps else ""
    print(f"training {config.problem} on {trainer.device}: {config.iterations} steps of {config.batch_size} wholes"
          f"{prior_fit}, MLflow run {trainer.tracker.run_id} ({trainer.tracker.tracking_uri})", flush=True)
    bar = tqdm(total=config.total_steps, initial=trainer.step, unit="step", dynamic_ncols=True)

    def on_log(step: int, metrics: dict[str, float]) -> None:
        bar.update(step - bar.n)
        if "loss/elbo_bits" in metrics:
            bar.set_postfix(w=f"{metrics['loss/w_bits']:.1f}", z=f"{metrics['loss/z_bits']:.1f}",
                            x=f"{metrics['loss/x_bits']:.0f}", k_max=int(metrics["k_max"]), refresh=False)
        elif "loss/prior_fit_bits" in metrics:
            bar.set_postfix(prior_fit=f"{metrics['loss/prior_fit_bits']:.1f}", refresh=False)

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
    figures = model_figures(trainer.model, trainer.problem, trainer.config.seed, trainer.history)
    for name, figure in figures.items():
        figure.savefig(out_dir / name, dpi=120)
        trainer.tracker.log_artifact(out_dir / name, "figures")
    trainer.tracker.log_artifact(config_path)
    trainer.tracker.log_artifact(trainer.checkpoint_path)


# ----- generate ------------------------------------------------------------------------------

def run_generate(args: argparse.Namespace) -> int:
    model = load_model(args.checkpoint).eval()
    parts = torch.tensor(args.parts, dtype=torch.long)
    part_attr = None if args.part_attr is None else torch.tensor(args.part_attr, dtype=torch.float32)
    torch.manual_seed(args.seed)
    samples = model.generate(parts, args.num_samples, part_attr)
    reference = None
    if args.problem is not None:
        reference = make_problem(args.problem).sample_wholes(parts, args.num_samples, part_attr,
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

def _parse_baselines(items: list[str]) -> dict[str, Path]:
    baselines = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise ValueError(f"--baseline takes NAME=CHECKPOINT, got {item!r}")
        baselines[name] = Path(path)
    return baselines


def _model_label(model) -> str:
    """The evaluated checkpoint's name in the tables: its model's name (``compvae``, ``count_cvae``);
    name the baselines with ``--baseline NAME=CHECKPOINT``."""
    return model.model_name


def _format_flag_value(value) -> str:
    return ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def training_command(payload: dict) -> str | None:
    """The ``compvae-geo train`` command that made a training checkpoint: the flags whose values
    differ from the CPU preset of its problem (None for a bare model file)."""
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


def _evaluation_tracker(args: argparse.Namespace, payload: dict, problem_name: str) -> Tracker | None:
    if args.no_mlflow:
        return None
    uri = resolve_tracking_uri(args.tracking_uri)
    if args.run_id is not None:
        return Tracker(problem_name, uri, run_id=args.run_id)
    training_run = payload.get("training", {}).get("run_id")
    if training_run is not None:
        try:
            return Tracker(problem_name, uri, run_id=training_run)
        except TrackingUnavailable:
            logging.warning("training run %s is not in %s; logging to a new evaluation run", training_run, uri)
    return Tracker(f"{problem_name}-evaluation", uri, run_name="evaluation")


def run_evaluate(args: argparse.Namespace) -> int:
    payload = read_model_payload(args.checkpoint)
    problem_name = (args.problem or payload.get("training", {}).get("config", {}).get("problem")
                    or problem_of_model(payload["config"]))
    problem = make_problem(problem_name)
    models, checkpoints, trained_by = {}, {}, {}
    for name, path in [(None, args.checkpoint), *_parse_baselines(args.baseline).items()]:
        model_payload = payload if path == args.checkpoint else read_model_payload(path)
        model = model_from_payload(model_payload, str(path))
        label = name or _model_label(model)
        if label in models or label in (NAIVE, TRUE):
            raise ValueError(f"two sources are called {label!r}; name the baselines differently")
        models[label], checkpoints[label] = model, str(path)
        trained_by[label] = training_command(model_payload)
    tracker = _evaluation_tracker(args, payload, problem_name)
    out_dir = args.out_dir or args.checkpoint.parent / "evaluation"
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    part_counts = args.part_counts or problem.evaluation_part_counts
    evaluation = evaluate(models, problem, part_counts, args.num_samples, args.multisets,
                          args.permutations, args.seed)
    seconds = time.monotonic() - started
    print(format_table(evaluation))
    print(f"({args.multisets} multisets x {args.num_samples} wholes per K and source, {seconds:.0f} s)")
    main_label = next(iter(models))
    figures = model_figures(models[main_label], problem, args.seed, payload.get("training", {}).get("history"))
    for name, figure in figures.items():
        figure.savefig(out_dir / name, dpi=120)
    document = {
        "problem": problem_name,
        "command": "compvae-geo " + shlex.join(args.argv),
        "settings": {"part_counts": list(part_counts), "num_samples": args.num_samples,
                     "multisets_per_k": args.multisets, "permutations": args.permutations, "seed": args.seed},
        "models": checkpoints,
        "training_commands": trained_by,
        "seconds": seconds,
        "figures": sorted(figures),
        "per_k": as_json(evaluation),
    }
    json_path = out_dir / "evaluation.json"
    json_path.write_text(json.dumps(document, indent=2))
    if tracker is not None:
        for metrics, k in as_metrics(evaluation):
            tracker.log_metrics(metrics, step=k)
        for path in [json_path, *(out_dir / name for name in figures)]:
            tracker.log_artifact(path, "evaluation")
        tracker.end("FINISHED")
    where = f"; MLflow run {tracker.run_id} ({tracker.tracking_uri})" if tracker is not None else ""
    print(f"wrote {json_path} and {len(figures)} figures in {out_dir}{where}")
    return 0


# ----- report --------------------------------------------------------------------------------

def run_report(args: argparse.Namespace) -> int:
    document = json.loads(args.evaluation.read_text())
    problem = document["problem"]
    out = args.out or Path("docs") / f"{problem}_results.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    figure_dir = Path("figures") / problem  # relative to the document, as its links are
    copied = []
    for name in document.get("figures", []):
        source = args.evaluation.parent / name
        if source.exists():
            (out.parent / figure_dir).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, out.parent / figure_dir / name)
            copied.append((figure_dir / name).as_posix())
    out.write_text(results_markdown(document, copied, str(args.evaluation), str(out)))
    print(f"wrote {out} ({len(copied)} figures in {out.parent / figure_dir})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
