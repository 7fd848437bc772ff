"""The ``compvae-geo`` command line: ``train``, ``generate``, ``whatif``, ``evaluate``, ``report`` and ``export``.

This module parses arguments and owns the output (messages, the progress bar); the work is done
by :mod:`compvae_geo.training.launch`, :mod:`compvae_geo.evaluation.run` and the models.
"""
from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

# Only plain-data modules here, so that --help answers at once; each command imports torch, PyG and
# MLflow when it runs.
from .evaluation.config import EvalConfig
from .models.config import DATA_DEFINED_MODEL_FIELDS, CompVAEConfig
from .problems import PROBLEM_NAMES
from .tracking import DEFAULT_TRACKING_URI, MODEL_URI_SCHEMES, TrackingUnavailable, resolve_tracking_uri
from .training.config import MODEL_NAMES, TrainConfig
from .training.presets import PRESETS, preset_values

INTERRUPTED_EXIT_CODE = 130  # the shell's code for a process stopped by Ctrl-C
DIVERGED_EXIT_CODE = 3  # a training whose steps were almost all skipped (see TrainConfig.max_skipped_share)
FAILED_EXIT_CODE = 1  # a file that could not be written or read (a full disk, say)


def _parse_bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _parse_ints(text: str) -> tuple[int, ...]:
    items = text.split(",")
    if any(not item.strip() for item in items):
        raise argparse.ArgumentTypeError(f"expected integers separated by commas, got {text!r} (an empty item)")
    try:
        return tuple(int(item) for item in items)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers separated by commas, got {text!r}") from None


CHECKPOINT_HELP = "a checkpoint file, or an MLflow URI: models:/NAME/VERSION, runs:/RUN_ID[/PATH]"


def _checkpoint(text: str) -> Path | str:
    """A ``--checkpoint``: a file path, or an MLflow URI kept as text (fetched once the tracking store is known)."""
    return text if text.startswith(MODEL_URI_SCHEMES) else Path(text)


def _parse_parts(text: str) -> tuple[int | str, ...]:
    """Categories separated by commas: ids, or a model of recorded data's labels (``single,family,family``)."""
    items = [item.strip() for item in text.split(",")]
    if any(not item for item in items):
        raise argparse.ArgumentTypeError(f"expected categories separated by commas, got {text!r} (an empty item)")
    return tuple(int(item) if item.lstrip("-").isdigit() else item for item in items)


def _parse_rows(text: str) -> list[list[float]]:
    return [[float(value) for value in row.split(",")] for row in text.split(";") if row.strip()]


class _BooleanFlag(argparse.Action):
    """A boolean field as ``--flag`` (or ``--flag true|false``) and ``--no-flag``."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        negated = [f"--no-{name[2:]}" for name in option_strings if name.startswith("--")]
        super().__init__([*option_strings, *negated], dest, nargs="?", **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        if option_string is not None and option_string.startswith("--no-"):
            if values is not None:
                parser.error(f"{option_string} takes no value")
            setattr(namespace, self.dest, False)
            return
        try:
            setattr(namespace, self.dest, True if values is None else _parse_bool(values))
        except argparse.ArgumentTypeError as error:
            parser.error(f"{option_string}: {error}")


class _HelpFormatter(argparse.HelpFormatter):
    """argparse's help, with a boolean flag shown as ``--flag [BOOL], --no-flag``."""

    def _format_action_invocation(self, action: argparse.Action) -> str:
        if isinstance(action, _BooleanFlag):
            positive = [name for name in action.option_strings if not name.startswith("--no-")]
            negative = [name for name in action.option_strings if name.startswith("--no-")]
            return ", ".join([f"{name} [BOOL]" for name in positive] + negative)
        return super()._format_action_invocation(action)


def _add_config_overrides(parser: argparse.ArgumentParser, config_cls: type, skip: set[str], title: str,
                          aliases: dict[str, list[str]] | None = None, helps: dict[str, str] | None = None,
                          choices: dict[str, Sequence[str]] | None = None) -> None:
    """One flag per field of the dataclass ``config_cls`` (``--field-name``, booleans also ``--no-field-name``).

    Each is None when not given; its help shows the default and, for training and model fields, the values the
    presets use (:func:`~compvae_geo.training.presets.preset_values`).
    """
    group = parser.add_argument_group(title, "override any field of the default")
    for field in fields(config_cls):
        if field.name in skip:
            continue
        default = getattr(config_cls(), field.name)
        names = [f"--{field.name.replace('_', '-')}", *(aliases or {}).get(field.name, [])]
        presets = preset_values(field.name)
        text = (helps or {}).get(field.name, f"(default {_shown(default)}{'; ' + presets if presets else ''})")
        if isinstance(default, bool):
            group.add_argument(*names, dest=field.name, action=_BooleanFlag, default=None, metavar="BOOL", help=text)
            continue
        kind = _parse_ints if isinstance(default, tuple) else type(default)
        metavar = "A,B,..." if isinstance(default, tuple) else type(default).__name__.upper()
        field_choices = (choices or {}).get(field.name)
        group.add_argument(*names, dest=field.name, type=kind, default=None, choices=field_choices,
                           metavar="{" + ",".join(field_choices) + "}" if field_choices else metavar, help=text)


def _shown(value: Any) -> str:
    """A default as the command line writes it (a tuple as ``1,4,16``, a string as itself, '' as '')."""
    if isinstance(value, tuple):
        return ",".join(str(item) for item in value)
    return repr(value) if value == "" else str(value)


def _overrides(args: argparse.Namespace, config_cls: type, skip: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The fields of ``config_cls`` given on the command line."""
    return {f.name: getattr(args, f.name) for f in fields(config_cls)
            if f.name not in skip and getattr(args, f.name, None) is not None}


def _add_train_arguments(train: argparse.ArgumentParser) -> None:
    """``compvae-geo train``: a new or resumed run, every config field a flag."""
    train.add_argument("--preset", choices=sorted(PRESETS), default=None,
                       help="'cpu' (default without a GPU) or 'paper' (default with one)")
    train.add_argument("--resume", type=Path, default=None, metavar="CHECKPOINT",
                       help="continue the run of this checkpoint (same MLflow run, step and schedule)")
    train.add_argument("--out-dir", type=Path, default=None, help="default: runs/<problem>-<date>-<time>")
    train.add_argument("--tracking-uri", default=None,
                       help=f"MLflow store (default $MLFLOW_TRACKING_URI, else {DEFAULT_TRACKING_URI})")
    train.add_argument("--experiment", default=None, help="MLflow experiment (default: the problem name)")
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
    _add_config_overrides(train, TrainConfig, set(), "training",
                          choices={"problem": PROBLEM_NAMES, "model": MODEL_NAMES})
    _add_config_overrides(train, CompVAEConfig, DATA_DEFINED_MODEL_FIELDS, "model")


def _add_generate_arguments(generate: argparse.ArgumentParser) -> None:
    """``compvae-geo generate``: wholes of given parts (or their peak days), under given conditions."""
    generate.add_argument("--checkpoint", type=_checkpoint, required=True, metavar="CHECKPOINT", help=CHECKPOINT_HELP)
    parts = generate.add_mutually_exclusive_group(required=True)
    parts.add_argument("--parts", type=_parse_parts, default=None, metavar="L1,L2,...",
                       help="the categories of one whole's parts: labels (single,family,family) or ids (0,3,3,7)")
    parts.add_argument("--parts-file", type=Path, default=None, metavar="FILE",
                       help="a parts table (.csv or .parquet: whole_id, category, descriptors, conditions by name), "
                            "any number of wholes (docs/serving.md)")
    generate.add_argument("--part-attr", type=_parse_rows, default=None, metavar="A,B;C,D;...",
                          help="with --parts: the descriptors of each part, one row per part, in the data's units "
                               "(sites: x,y locations, e.g. '0.1,0.5;-0.4,0'); a simulator's model draws them when "
                               "none are given")
    generate.add_argument("--condition", action="append", default=[], metavar="NAME=VALUE",
                          help="with --parts: a known condition of the whole, e.g. --condition day_type=weekday "
                               "--condition mean_temperature=-5 (repeatable; all or none: the model draws them)")
    generate.add_argument("--num-samples", type=int, default=8)
    generate.add_argument("--seed", type=int, default=0)
    generate.add_argument("--observation-noise", action=argparse.BooleanOptionalAction, default=None,
                          help="draws of p(x | ...) or its mean (default: what the evaluation measures for the model: "
                               "noise for households and data files, the mean for sines and sites)")
    generate.add_argument("--problem", choices=PROBLEM_NAMES, default=None,
                          help="also draw true wholes of this problem in the plot")
    generate.add_argument("--out", type=Path, default=Path("generated.csv"),
                          help="where the wholes go: .csv or .parquet (long: whole_id, sample, step, value), .pt or "
                               ".npy (an array); a .json of what was asked beside it, and a .png plot")
    generate.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    generate.add_argument("--plot", action=argparse.BooleanOptionalAction, default=True,
                          help="plot the first whole's draws beside --out (default: yes)")
    generate.add_argument("--tail-quantile", type=float, default=None, metavar="Q",
                          help="only wholes whose --statistic exceeds its Q-quantile under the model (e.g. 0.99: the "
                               "1-in-100 peak days), sampled without rejection")
    generate.add_argument("--statistic", choices=("peak", "energy", "mean"), default="peak",
                          help="the statistic of --tail-quantile: the largest value, the sum or the mean")


def _add_whatif_arguments(whatif: argparse.ArgumentParser) -> None:
    """``compvae-geo whatif``: an observed whole recomposed."""
    whatif.add_argument("--checkpoint", type=_checkpoint, required=True, metavar="CHECKPOINT", help=CHECKPOINT_HELP)
    source = whatif.add_mutually_exclusive_group(required=True)
    source.add_argument("--observed", type=Path, default=None, metavar="FILE",
                        help="the observed whole: a .pt file holding a dict of tensors 'part' [K], 'whole' "
                             "[*obs_shape], and 'part_attr' [K, F] / 'whole_attr' [C] where the model has them")
    source.add_argument("--problem", choices=PROBLEM_NAMES, default=None,
                        help="draw the observed whole from this problem's generator (with --parts and --seed), "
                             "and its true what-if wholes for the plot")
    whatif.add_argument("--parts", type=_parse_parts, default=None, metavar="L1,L2,...",
                        help="with --problem: the categories of the observed whole's parts, labels or ids")
    whatif.add_argument("--part-attr", type=_parse_rows, default=None, metavar="A,B;C,D;...",
                        help="with --problem: the descriptors of the observed parts, one row per part (default: drawn)")
    whatif.add_argument("--condition", action="append", default=[], metavar="NAME=VALUE",
                        help="a known condition of the observed whole, e.g. --condition day_type=weekday (repeatable; "
                             "all of the model's conditions or none): with --problem the day is drawn under them, "
                             "with --observed they replace the file's")
    whatif.add_argument("--remove", type=_parse_ints, default=None, metavar="I1,I2,...",
                        help="positions (0..K-1) of the observed parts to remove")
    whatif.add_argument("--add", type=_parse_parts, default=None, metavar="L1,L2,...",
                        help="categories of the parts to add, labels or ids")
    whatif.add_argument("--add-part-attr", type=_parse_rows, default=None, metavar="A,B;C,D;...",
                        help="descriptors of each added part, one row per part (with --problem: drawn if not given)")
    whatif.add_argument("--num-samples", type=int, default=64)
    whatif.add_argument("--seed", type=int, default=0)
    whatif.add_argument("--out", type=Path, default=Path("whatif.csv"),
                        help="where the what-if wholes go: .csv or .parquet (long: whole_id, sample, step, value), "
                             ".pt or .npy (an array); a .json of what was asked beside it, and a .png plot")
    whatif.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    whatif.add_argument("--plot", action=argparse.BooleanOptionalAction, default=True,
                        help="plot the observed whole and its what-if wholes beside --out (default: yes)")


def _add_evaluate_arguments(evaluate: argparse.ArgumentParser) -> None:
    """``compvae-geo evaluate``: checkpoints against the true generator."""
    evaluate.add_argument("--checkpoint", type=_checkpoint, required=True, metavar="CHECKPOINT",
                          help="the model to evaluate: " + CHECKPOINT_HELP)
    evaluate.add_argument("--baseline", action="append", default=[], metavar="NAME=CHECKPOINT",
                          help="another trained model to compare, e.g. count_cvae=runs/cvae/checkpoint.pt (repeatable)")
    evaluate.add_argument("--problem", choices=PROBLEM_NAMES, default=None,
                          help="default: the checkpoint's training problem, or for a bare model file "
                               "the problem whose data its config fits; a model trained on files that "
                               "'compvae-geo export' wrote: the problem that wrote them")
    _add_config_overrides(evaluate, EvalConfig, set(), "what to measure",
                          aliases={"multisets_per_k": ["--multisets"]},
                          helps={"part_counts": "default: the problem's (sine: 1,2,4,8,12,16,24,32,64; "
                                                "sites: 1,2,4,8,12,16)"})
    evaluate.add_argument("--out-dir", type=Path, default=None,
                          help="where evaluation.json and the figures go (default: <checkpoint dir>/evaluation, "
                               "with --no-per-k <checkpoint dir>/simulator)")
    evaluate.add_argument("--run-id", default=None,
                          help="the MLflow run the evaluation's own run nests under (default: the checkpoint's "
                               "training run, else none: a run in <problem>-evaluation)")
    evaluate.add_argument("--tracking-uri", default=None,
                          help=f"MLflow store (default $MLFLOW_TRACKING_URI, else {DEFAULT_TRACKING_URI})")
    evaluate.add_argument("--no-mlflow", action="store_true", help="do not log to MLflow")
    evaluate.add_argument("--whatif", action="store_true",
                          help="also measure what-if recomposition of observed wholes against the true what-if "
                               "wholes (CompVAE models)")
    evaluate.add_argument("--tail", action="store_true",
                          help="also measure generate_tail (the peak days) against rejection sampling from the model, "
                               "the truth and the naive simulator (the first model; q = 0.99, 0.999; sizes: --tail-*)")
    evaluate.add_argument("--data", type=Path, default=None, metavar="DIR",
                          help="evaluate a model trained on files against their held-out wholes (docs/data_format.md)"
                               " instead of a problem's generator; written to <checkpoint dir>/evaluation-<split>")
    evaluate.add_argument("--split", choices=("train", "val", "test"), default="test",
                          help="with --data: the split to measure (the splits of the model's training)")
    evaluate.add_argument("--min-wholes", type=int, default=50,
                          help="with --data: the multisets compared are those the split holds on this many wholes")
    evaluate.add_argument("--no-per-k", action="store_true",
                          help="skip the per-K evaluation: only --whatif and/or --tail (the report goes to "
                               "docs/<problem>_simulator.md)")


def _add_report_arguments(report: argparse.ArgumentParser) -> None:
    """``compvae-geo report``: the results document of an evaluation."""
    report.add_argument("--evaluation", type=Path, required=True, help="an evaluation.json of 'evaluate'")
    report.add_argument("--out", type=Path, default=None,
                        help="the Markdown file (default: docs/<problem>_results.md); its figures go to "
                             "figures/<problem>/ next to it, so the problems never overwrite each other's")
    report.add_argument("--readme", type=Path, default=None,
                        help="also rewrite the problem's headline table in this Markdown file, between its "
                             "'<!-- headline PROBLEM: ... -->' and '<!-- end headline PROBLEM -->' lines")


def _add_export_arguments(export: argparse.ArgumentParser) -> None:
    """``compvae-geo export``: a problem's wholes in the file layout of docs/data_format.md."""
    export.add_argument("--problem", choices=PROBLEM_NAMES, required=True)
    export.add_argument("--wholes", type=int, default=None, help="wholes to write, spread over the multisets")
    export.add_argument("--same-multisets-as", type=Path, default=None, metavar="DIR",
                        help="instead of --wholes: fresh wholes (new days) of the multisets an export wrote to DIR, "
                             "as many of each")
    export.add_argument("--multisets", type=int, default=None,
                        help="distinct multisets (feeders), each on many wholes (days); default: wholes / 50")
    export.add_argument("--max-parts", type=int, default=32, help="parts per multiset: uniform in 1..this")
    export.add_argument("--seed", type=int, default=0)
    export.add_argument("--file-type", choices=("csv", "parquet"), default="csv")
    export.add_argument("--out", type=Path, required=True, help="the directory to write")


def build_parser() -> argparse.ArgumentParser:
    """The parser of every ``compvae-geo`` command."""
    from . import __version__

    parser = argparse.ArgumentParser(prog="compvae-geo", description=__doc__, formatter_class=_HelpFormatter)
    parser.add_argument("--version", action="version", version=f"compvae-geo {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    add_parser = commands.add_parser

    def command(name: str, **kwargs: Any) -> argparse.ArgumentParser:
        return add_parser(name, formatter_class=_HelpFormatter, **kwargs)

    commands.add_parser = command  # type: ignore[method-assign]
    _add_train_arguments(commands.add_parser("train", help="train a CompVAE, tracked in MLflow"))
    _add_generate_arguments(commands.add_parser("generate", help="generate wholes for given parts"))
    _add_whatif_arguments(commands.add_parser(
        "whatif", help="what an observed whole would have been with parts removed or added"))
    _add_evaluate_arguments(commands.add_parser(
        "evaluate", help="distances of generated to true wholes per K, with baselines"))
    _add_report_arguments(commands.add_parser(
        "report", help="write docs/<problem>_results.md from an evaluation.json"))
    _add_export_arguments(commands.add_parser(
        "export", help="write a problem's wholes and parts as files (the layout of your own data)"))
    _add_log_model_arguments(commands.add_parser(
        "log-model", help="log a checkpoint as an MLflow Model (mlflow.pyfunc), optionally registered"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs ``compvae-geo`` with ``argv`` (default: the process arguments); returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv  # to record how a result was made
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        if isinstance(getattr(args, "checkpoint", None), str):  # an MLflow URI: fetched from the store
            from .serving.model_uri import local_checkpoint

            args.checkpoint = local_checkpoint(args.checkpoint, getattr(args, "tracking_uri", None))
        commands = {"train": run_train, "generate": run_generate, "whatif": run_whatif, "evaluate": run_evaluate,
                    "report": run_report, "export": run_export, "log-model": run_log_model}
        return commands[args.command](args)
    except (ValueError, TrackingUnavailable, FileNotFoundError) as error:
        print(f"compvae-geo: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # e.g. a checkpoint that could not be written (CheckpointWriteError): no traceback
        print(f"compvae-geo: error: {error}", file=sys.stderr)
        return FAILED_EXIT_CODE


# ----- train ---------------------------------------------------------------------------------

def run_train(args: argparse.Namespace) -> int:
    """Trains (or resumes) one run, with a progress bar; Ctrl-C saves a checkpoint.

    Every run that ends abnormally is marked in MLflow: KILLED on Ctrl-C, FAILED on an error or a
    diverged training (exit code 3). Under ``torchrun`` every process runs this: they join one process
    group, rank 0 alone prints, tracks and writes, and after a restart of the workers (``--max-restarts``)
    the run goes on from its last checkpoint.
    """
    from .training.distributed import Ranks, destroy_process_group, init_process_group
    from .training.launch import new_run, resumed_run, torchrun_directory, torchrun_restart_checkpoint
    from .training.spec import resolve_device

    ranks = Ranks.from_environment()
    tracking_uri = resolve_tracking_uri(args.tracking_uri)
    train_overrides = _overrides(args, TrainConfig)
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
            model_overrides = _overrides(args, CompVAEConfig, DATA_DEFINED_MODEL_FIELDS)
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
    from .training.launch import new_spec, resolved_config

    if args.resume is not None:
        raise ValueError("--print-config shows a new run's configuration; a checkpoint's is in the config.json "
                         "beside it (--resume continues it as it was)")
    model_overrides = _overrides(args, CompVAEConfig, DATA_DEFINED_MODEL_FIELDS)
    spec = new_spec(args.preset, train_overrides, model_overrides, device, args.config)
    print(json.dumps(resolved_config(spec), indent=2))
    return 0


def _end_run(trainer: Any, status: str) -> None:
    if trainer.tracker is not None:  # rank 0's
        trainer.tracker.end(status)


def _train(trainer: Any, out_dir: Path, args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .evaluation.artifacts import write_artifacts

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
    write_artifacts(trainer, out_dir)
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
    from .serving import log_model

    weights = trainer.best_path if trainer.best is not None else trainer.checkpoint_path
    try:
        info = log_model(weights, trainer.tracker.tracking_uri, trainer.tracker.run_id, registered_name)
    except Exception as error:  # the training is done and its files are local: say so, and go on
        print(f"compvae-geo: warning: could not log the MLflow Model ({str(error).splitlines()[0]}); log it with: "
              f"compvae-geo log-model --checkpoint {weights}", file=sys.stderr)
        return
    registered = f", registered as models:/{registered_name}/{info.registered_model_version}" if registered_name else ""
    print(f"MLflow Model: {info.model_uri}{registered}")


# ----- log-model -----------------------------------------------------------------------------

def run_log_model(args: argparse.Namespace) -> int:
    """Logs an existing checkpoint as an MLflow Model."""
    from .serving import log_model

    if not args.checkpoint.is_file():
        raise FileNotFoundError(f"no checkpoint at {args.checkpoint}")
    info = log_model(args.checkpoint, args.tracking_uri, args.run_id, args.register)
    registered = f"; registered as models:/{args.register}/{info.registered_model_version}" if args.register else ""
    print(f"logged {args.checkpoint} as the MLflow Model {info.model_uri} (run {info.run_id}){registered}")
    return 0


def _add_log_model_arguments(log: argparse.ArgumentParser) -> None:
    """``compvae-geo log-model``: a checkpoint as an MLflow Model."""
    log.add_argument("--checkpoint", type=Path, required=True)
    log.add_argument("--register", default=None, metavar="NAME",
                     help="also register it in the Model Registry as a new version of NAME")
    log.add_argument("--run-id", default=None,
                     help="the MLflow run to log it in (default: the checkpoint's training run, else none)")
    log.add_argument("--tracking-uri", default=None,
                     help=f"MLflow store (default $MLFLOW_TRACKING_URI, else {DEFAULT_TRACKING_URI})")


# ----- generate ------------------------------------------------------------------------------

def run_generate(args: argparse.Namespace) -> int:
    """Generates wholes for the parts of the command line or of a parts file, and writes them with a plot."""
    import torch

    from .checkpoint import read_model_payload
    from .evaluation.figures import WholeLook, samples_figure
    from .models import model_from_payload
    from .problems import make_problem, model_terms
    from .serving.generation import GenerationSettings, draw_wholes, measured_with_noise
    from .serving.requests import read_requests

    _check_out(args.out, GENERATED_SUFFIXES, args.overwrite)
    if args.parts_file is not None and (args.part_attr is not None or args.condition):
        raise ValueError("--part-attr and --condition go with --parts; a --parts-file holds its own")
    payload = read_model_payload(args.checkpoint)
    model, terms = model_from_payload(payload, str(args.checkpoint)).eval(), model_terms(payload)
    params = {"num_samples": args.num_samples, "seed": args.seed, "tail_quantile": args.tail_quantile or 0.0,
              "tail_statistic": args.statistic}
    if args.observation_noise is not None:
        params["observation_noise"] = args.observation_noise
    settings = GenerationSettings.of(params, model, measured_with_noise(payload))
    table = _read_parts_file(args.parts_file) if args.parts_file else _parts_table(args, terms, payload)
    requests = read_requests(table, terms)
    draws = [draw_wholes(model, request, settings) for request in requests]
    for request, draw in zip(requests, draws):
        if draw.tail is not None:
            tail = draw.tail
            print(f"{request.whole_id}: the {settings.tail_quantile} quantile of the {settings.tail_statistic} under "
                  f"the model: {tail.threshold:.4g} (Monte-Carlo error {tail.threshold_error:.2g}); {tail.evaluations} "
                  f"wholes evaluated for {tail.effective_samples:.0f} effectively independent ones "
                  f"({tail.evaluations / tail.effective_samples:.1f} each; rejection: "
                  f"{1 / (1 - settings.tail_quantile):.0f})")
    _write_generated(args.out, [request.whole_id for request in requests], [draw.wholes for draw in draws])
    _write_sidecar(args, requests, settings, terms)
    written = [str(args.out), str(_sidecar(args.out))]
    if args.plot:
        first = requests[0]
        reference = None
        if args.problem is not None:
            reference = make_problem(args.problem).sample_wholes(
                first.parts, args.num_samples, first.part_attr, first.whole_attr,
                generator=torch.Generator().manual_seed(args.seed))
        title = f"{args.num_samples} wholes generated for whole {first.whole_id}'s parts"
        if settings.tail_quantile:
            title += f", {settings.tail_statistic} above its {settings.tail_quantile} quantile"
        figure = samples_figure(draws[0].wholes, title + (" (grey: true)" if reference is not None else ""),
                                WholeLook.of(model.config.observation, terms), reference)
        figure.savefig(args.out.with_suffix(".png"), dpi=120)
        written.append(str(args.out.with_suffix(".png")))
    print(f"wrote {len(requests)} wholes x {args.num_samples} draws ({terms.unit or 'the data units'}): "
          f"{', '.join(written)}")
    return 0


GENERATED_SUFFIXES = (".csv", ".parquet", ".pt", ".npy")  # the files --out of generate and whatif can be


def _check_out(out: Path, suffixes: tuple[str, ...], overwrite: bool) -> None:
    """``ValueError`` unless ``--out`` names a file of one of ``suffixes`` that may be written (before any work)."""
    if out.suffix.lower() not in suffixes:
        raise ValueError(f"--out must end in {', '.join(suffixes)}, got {out}")
    if out.exists() and not overwrite:
        raise ValueError(f"{out} exists: choose another --out, or replace it with --overwrite")


def _parts_table(args: argparse.Namespace, terms: Any, payload: dict[str, Any]) -> Any:
    """The parts table of ``--parts``, ``--part-attr`` and ``--condition`` (one whole, ``whole_id`` 0).

    A simulator's model draws the descriptors from its simulator when none are given (as ``whatif`` does).
    """
    import pandas as pd
    import torch

    from .problems import make_problem, model_problem

    labels = _labels(args.parts, terms)
    rows: dict[str, list[Any]] = {"whole_id": ["0"] * len(labels), "category": labels}
    descriptors = args.part_attr
    problem = model_problem(payload)
    if descriptors is None and terms.descriptor_columns and problem is not None:
        ids = terms.part_ids([str(label) for label in labels])
        descriptors = make_problem(problem).sample_part_attr(ids, torch.Generator().manual_seed(args.seed)).tolist()
    if terms.descriptor_columns:
        if descriptors is None or len(descriptors) != len(labels):
            raise ValueError(f"--part-attr needs one row of {len(terms.descriptor_columns)} descriptors "
                             f"({', '.join(terms.descriptor_columns)}) per part")
        rows.update({name: [row[j] for row in descriptors] for j, name in enumerate(terms.descriptor_columns)})
    rows.update({name: [value] * len(labels) for name, value in _conditions(args.condition).items()})
    return pd.DataFrame(rows)


def _labels(parts: Sequence[int | str], terms: Any) -> list[Any]:
    """Categories of the command line as labels: a label as it is (integer labels too), else an id's label."""
    known = set(terms.vocabulary)
    return [str(p) if str(p) in known else terms.vocabulary[p] if isinstance(p, int) and 0 <= p < len(known) else p
            for p in parts]


def _conditions(items: list[str]) -> dict[str, str]:
    """``--condition NAME=VALUE`` items by name (``ValueError`` for an item without ``=``)."""
    conditions = {}
    for condition in items:
        name, equals, value = condition.partition("=")
        if not equals:
            raise ValueError(f"--condition takes NAME=VALUE, got {condition!r}")
        conditions[name.strip()] = value.strip()
    return conditions


def _read_parts_file(path: Path) -> Any:
    """A ``--parts-file``, read as the data path reads its tables; ``whole_id`` and ``category`` labels as text."""
    from .datasets.tables import CATEGORY, TABLE_SUFFIXES, WHOLE_ID, as_label, is_empty, read_table

    if not path.is_file():
        raise FileNotFoundError(f"no parts file at {path}")
    if path.suffix not in TABLE_SUFFIXES:
        raise ValueError(f"--parts-file must be a {' or '.join(TABLE_SUFFIXES)} file, got {path}")
    table = read_table(path)
    for column in (WHOLE_ID, CATEGORY):  # integer labels read as numbers become the labels the vocabulary holds
        if column in table.columns:
            table[column] = [None if is_empty(cell) else as_label(cell) for cell in table[column].tolist()]
    return table


def _write_generated(out: Path, whole_ids: list[Any], wholes: list[Any]) -> None:
    """The draws of every request: a long table (.csv, .parquet), or an array (.pt, .npy; one whole: ``[S, ...]``)."""
    import pandas as pd
    import torch

    from .serving.requests import long_table

    out.parent.mkdir(parents=True, exist_ok=True)
    suffix = out.suffix.lower()
    if suffix in (".csv", ".parquet"):
        table = pd.concat([long_table(whole_id, w) for whole_id, w in zip(whole_ids, wholes)], ignore_index=True)
        table.to_csv(out, index=False) if suffix == ".csv" else table.to_parquet(out, index=False)
        return
    stacked = wholes[0] if len(wholes) == 1 else torch.stack(wholes)
    if suffix == ".pt":
        torch.save(stacked, out)
    else:
        import numpy as np

        np.save(out, stacked.numpy())


def _sidecar(out: Path) -> Path:
    return out.with_name(out.name + ".json")


def _write_sidecar(args: argparse.Namespace, requests: list[Any], settings: Any, terms: Any) -> None:
    """What was asked, beside the draws: the checkpoint, each whole's parts and conditions, the settings, the units."""
    from dataclasses import asdict

    wholes = [{"whole_id": str(r.whole_id), "parts": [terms.vocabulary[i] for i in r.parts.tolist()],
               "descriptors": None if r.part_attr is None else r.part_attr.tolist(),
               "conditions": None if r.whole_attr is None else
               {name: cells[0] for name, cells in terms.decode_conditions(r.whole_attr[None]).items()}}
              for r in requests]
    document = {"checkpoint": str(args.checkpoint), "command": "compvae-geo " + shlex.join(args.argv),
                "settings": asdict(settings), "unit": terms.unit, "step_hours": terms.step_hours, "wholes": wholes}
    _sidecar(args.out).write_text(json.dumps(document, indent=1))


# ----- whatif --------------------------------------------------------------------------------

def _read_observed(path: Path) -> Any:
    """The observed whole of ``--observed``: a ``Data`` from a .pt dict of tensors (``ValueError`` if unusable)."""
    import torch
    from torch_geometric.data import Data

    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as error:  # noqa: BLE001  (any unreadable file: one line, never torch's unpickling advice)
        raise ValueError(f"{path} is not a .pt file of tensors ({type(error).__name__})") from None
    if not isinstance(content, dict) or not {"part", "whole"} <= content.keys():
        raise ValueError(f"{path} must hold a dict with 'part' and 'whole' tensors (and 'part_attr'/'whole_attr')")
    unknown = content.keys() - {"part", "whole", "part_attr", "whole_attr"}
    if unknown:
        raise ValueError(f"{path} holds unknown keys {sorted(unknown)}; known: part, whole, part_attr, whole_attr")
    if not all(isinstance(value, torch.Tensor) for value in content.values()):
        raise ValueError(f"every value in {path} must be a tensor")
    whole = content["whole"]
    attrs = {"part": content["part"], "whole": whole.unsqueeze(0)}
    if "part_attr" in content:
        attrs["part_attr"] = content["part_attr"]
    if "whole_attr" in content:
        attrs["whole_attr"] = content["whole_attr"].reshape(1, -1)
    return Data(num_nodes=content["part"].numel(), **attrs)


def run_whatif(args: argparse.Namespace) -> int:
    """Recomposes an observed whole (from a file, or drawn from a problem) and writes the what-if wholes with a plot."""
    import torch

    from .checkpoint import read_model_payload
    from .datasets import check_edit
    from .evaluation.figures import WholeLook, whatif_figure
    from .models import CompVAE, model_from_payload
    from .problems import make_problem, model_terms
    from .serving.requests import read_requests
    from .structural import recompose

    _check_out(args.out, GENERATED_SUFFIXES, args.overwrite)
    payload = read_model_payload(args.checkpoint)
    model, terms = model_from_payload(payload, str(args.checkpoint)).eval(), model_terms(payload)
    if not isinstance(model, CompVAE):
        raise ValueError(f"{args.checkpoint} holds a {model.model_name}, which cannot recompose; use a CompVAE")
    add = None if args.add is None else torch.as_tensor(terms.part_ids(_labels(args.add, terms)), dtype=torch.long)
    add_attr = None if args.add_part_attr is None else torch.tensor(args.add_part_attr, dtype=torch.float32)
    truth, problem, generator = None, None, None
    if args.problem is not None:
        if args.parts is None:
            raise ValueError("--problem needs --parts, the categories of the observed whole")
        request = read_requests(_parts_table(args, terms, payload), terms)[0]
        problem = make_problem(args.problem)
        generator = torch.Generator().manual_seed(args.seed)
        observation = problem.observe(request.parts, request.part_attr, request.whole_attr, generator=generator)
        if add is not None and add_attr is None and problem.part_attr_dim:
            add_attr = problem.sample_part_attr(add, generator)
        data = observation.data()
    else:
        if args.parts is not None or args.part_attr is not None:
            raise ValueError("--parts and --part-attr go with --problem; an --observed file holds its parts")
        data = _read_observed(args.observed)
        if args.condition:
            data.whole_attr = terms.encode_conditions(
                {name: [value] for name, value in _conditions(args.condition).items()}, 1)
    c = model.config
    edit = check_edit(data.part.numel(), args.remove, add, add_attr, c.num_categories, c.part_attr_dim)
    if problem is not None:
        truth = problem.sample_counterfactual(observation, edit, args.num_samples, generator)
    torch.manual_seed(args.seed)
    recomposed = recompose(model, data, edit, args.num_samples)
    whole_id = "whatif"
    _write_generated(args.out, [whole_id], [recomposed])
    _write_whatif_sidecar(args, data, edit, terms)
    written = [str(args.out), str(_sidecar(args.out))]
    if args.plot:
        plot = args.out.with_suffix(".png")
        edits = [f"{label} {list(value)}" for label, value in (("without", args.remove), ("with", args.add)) if value]
        title = f"the observed whole {' and '.join(edits) or 'unchanged'}"
        look = WholeLook.of(model.config.observation, terms)
        whatif_figure(data.whole[0], recomposed, title, look, truth).savefig(plot, dpi=120)
        written.append(str(plot))
    print(f"wrote {args.num_samples} what-if wholes ({terms.unit or 'the data units'}): {', '.join(written)}")
    return 0


def _write_whatif_sidecar(args: argparse.Namespace, data: Any, edit: Any, terms: Any) -> None:
    """What was asked, beside the what-if wholes: the observed parts and conditions, the edit, the seed, the units."""
    whole_attr = getattr(data, "whole_attr", None)
    document = {
        "checkpoint": str(args.checkpoint), "command": "compvae-geo " + shlex.join(args.argv), "seed": args.seed,
        "num_samples": args.num_samples,
        "observed": str(args.observed) if args.observed else f"drawn from {args.problem}",
        "parts": [terms.vocabulary[i] for i in data.part.tolist()],
        "descriptors": None if getattr(data, "part_attr", None) is None else data.part_attr.tolist(),
        "conditions": None if whole_attr is None or not terms.conditions else
        {name: cells[0] for name, cells in terms.decode_conditions(whole_attr.reshape(1, -1)).items()},
        "removed": edit.removed.tolist(), "added": [terms.vocabulary[i] for i in edit.add_part.tolist()],
        "added_descriptors": None if edit.add_part_attr is None else edit.add_part_attr.tolist(),
        "unit": terms.unit, "step_hours": terms.step_hours}
    _sidecar(args.out).write_text(json.dumps(document, indent=1))


# ----- evaluate ------------------------------------------------------------------------------

def _parse_baselines(items: list[str]) -> dict[str, Path]:
    baselines = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise ValueError(f"--baseline takes NAME=CHECKPOINT, got {item!r}")
        if name in baselines:
            raise ValueError(f"--baseline names {name!r} twice; give each baseline its own name")
        baselines[name] = Path(path)
    return baselines


class _ProgressBars:
    """A progress bar on standard error per stage of an evaluation (:mod:`compvae_geo.evaluation.progress`)."""

    def __init__(self) -> None:
        self.bar: Any = None

    def start(self, stage: str, total: int) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=total, desc=stage, unit="cell", dynamic_ncols=True)

    def advance(self, detail: str) -> None:
        self.bar.set_postfix_str(detail, refresh=False)
        self.bar.update(1)

    def finish(self) -> None:
        self.bar.close()


def run_evaluate(args: argparse.Namespace) -> int:
    """Evaluates a checkpoint (and baselines) and prints the per-K tables."""
    from .evaluation.per_k import as_json
    from .evaluation.progress import listening
    from .evaluation.report import per_k_tables, tail_table, whatif_table
    from .evaluation.run import evaluate_checkpoints
    from .evaluation.tail import as_json as tail_json
    from .evaluation.whatif import as_json as whatif_json

    if args.data is not None:
        return _evaluate_data(args)
    config = EvalConfig(**_overrides(args, EvalConfig))
    tracking = None if args.no_mlflow else (args.tracking_uri, args.run_id)
    with listening(_ProgressBars()):
        run = evaluate_checkpoints(args.checkpoint, _parse_baselines(args.baseline), config, args.problem,
                                   args.out_dir, tracking, "compvae-geo " + shlex.join(args.argv), args.whatif,
                                   args.tail, per_k=not args.no_per_k)
    tables = list(per_k_tables(as_json(run.evaluation)).values()) if run.evaluation else []
    if run.whatif is not None:
        tables.append(("what-if recomposition: energy distance to the true what-if wholes ('true': the noise floor); "
                       "ratio: model / better baseline", whatif_table(whatif_json(run.whatif))))
    if run.tail is not None:
        tables.append(("the peak days: tail sampler against rejection sampling", tail_table(tail_json(run.tail))))
    print("\n\n".join(f"{title}\n{table.text()}" for title, table in tables))
    print(f"({config.multisets_per_k} multisets x {config.num_samples} wholes per {'K' if run.evaluation else 'cell'} "
          f"and source, {run.seconds:.0f} s)")
    where = f"; MLflow run {run.tracker.run_id} ({run.tracker.tracking_uri})" if run.tracker is not None else ""
    print(f"wrote {run.json_path} and {run.num_figures} figures in {run.json_path.parent}{where}")
    return 0


def _evaluate_data(args: argparse.Namespace) -> int:
    """``evaluate --data``: the held-out ELBO gap and the multisets of the split against the observed wholes."""
    from .evaluation.data import cells_table, elbo_table, evaluate_data

    if args.whatif or args.tail or args.no_per_k:
        raise ValueError("--whatif, --tail and --no-per-k need a problem's true generator; --data has none")
    tracking = None if args.no_mlflow else (args.tracking_uri, args.run_id)
    document, path = evaluate_data(args.checkpoint, _parse_baselines(args.baseline), args.data, args.split,
                                   args.min_wholes, args.out_dir, "compvae-geo " + shlex.join(args.argv), tracking)
    print(f"held-out ELBO, bits per whole, on the {args.split} split beside the training split\n"
          f"{elbo_table(document).text()}")
    cells = document["multisets"]
    if cells:
        from .evaluation.data import MultisetCell

        table = cells_table([MultisetCell(**cell) for cell in cells])
        print(f"\nmultisets of the {args.split} split with at least {args.min_wholes} wholes: generated against "
              f"observed (standardised per position)\n{table.text()}")
    else:
        print(f"\nno multiset of the {args.split} split has {args.min_wholes} wholes (--min-wholes)")
    print(f"wrote {path}")
    return 0


# ----- report --------------------------------------------------------------------------------

def run_report(args: argparse.Namespace) -> int:
    """Writes the results document of an evaluation."""
    from .evaluation.report import write_report

    out, num_figures = write_report(args.evaluation, args.out, args.readme)
    print(f"wrote {out} ({num_figures} figures in {out.parent / 'figures'})")
    return 0


# ----- export --------------------------------------------------------------------------------

def run_export(args: argparse.Namespace) -> int:
    """Writes a problem's wholes as files."""
    from .datasets.export import export_new_days, export_problem
    from .problems import make_problem

    if (args.wholes is None) == (args.same_multisets_as is None):
        raise ValueError("give --wholes (new multisets) or --same-multisets-as DIR (new days of its multisets)")
    if args.same_multisets_as is not None:
        out = export_new_days(make_problem(args.problem), args.same_multisets_as, args.out, args.seed, args.file_type)
        print(f"wrote new wholes of the multisets of {args.same_multisets_as} to {out}")
        return 0
    multisets = args.multisets or max(1, args.wholes // 50)
    out = export_problem(make_problem(args.problem), args.wholes, multisets, args.max_parts, args.out, args.seed,
                         args.file_type)
    print(f"wrote {args.wholes} wholes of {multisets} multisets to {out} (wholes.{args.file_type}, "
          f"parts.{args.file_type}, dataset.json)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
