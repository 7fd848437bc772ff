"""The ``compvae-geo`` command line: ``train``, ``generate``, ``whatif``, ``evaluate``, ``report`` and ``export``.

This package parses arguments and owns the output (messages, the progress bar); the work is done
by :mod:`compvae_geo.training.launch`, :mod:`compvae_geo.evaluation.run` and the models.
"""
from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Any

from ..tracking import TrackingUnavailable
from .common import FAILED_EXIT_CODE, HelpFormatter
from .evaluate import add_evaluate_arguments, add_report_arguments, run_evaluate, run_report
from .export import add_export_arguments, run_export
from .generate import add_generate_arguments, run_generate
from .train import add_log_model_arguments, add_train_arguments, run_log_model, run_train
from .whatif import add_whatif_arguments, run_whatif


def build_parser() -> argparse.ArgumentParser:
    """The parser of every ``compvae-geo`` command."""
    from .. import __version__

    parser = argparse.ArgumentParser(prog="compvae-geo", description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument("--version", action="version", version=f"compvae-geo {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    add_parser = commands.add_parser

    def command(name: str, **kwargs: Any) -> argparse.ArgumentParser:
        return add_parser(name, formatter_class=HelpFormatter, **kwargs)

    commands.add_parser = command  # type: ignore[method-assign]
    add_train_arguments(commands.add_parser("train", help="train a CompVAE, tracked in MLflow"))
    add_generate_arguments(commands.add_parser("generate", help="generate wholes for given parts"))
    add_whatif_arguments(commands.add_parser(
        "whatif", help="what an observed whole would have been with parts removed or added"))
    add_evaluate_arguments(commands.add_parser(
        "evaluate", help="distances of generated to true wholes per K, with baselines"))
    add_report_arguments(commands.add_parser(
        "report", help="write docs/<problem>_results.md from an evaluation.json"))
    add_export_arguments(commands.add_parser(
        "export", help="write a problem's wholes and parts as files (the layout of your own data)"))
    add_log_model_arguments(commands.add_parser(
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
            from ..serving.model_uri import local_checkpoint

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
