"""``compvae-geo evaluate`` (against a problem's generator, or on files) and ``compvae-geo report``."""
from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Any

from ..evaluation.config import EvalConfig
from ..problems import PROBLEM_NAMES
from ..tracking import DEFAULT_TRACKING_URI
from .common import CHECKPOINT_HELP, add_config_overrides, checkpoint_argument, config_overrides


def add_evaluate_arguments(evaluate: argparse.ArgumentParser) -> None:
    """``compvae-geo evaluate``: checkpoints against the true generator."""
    evaluate.add_argument("--checkpoint", type=checkpoint_argument, required=True, metavar="CHECKPOINT",
                          help="the model to evaluate: " + CHECKPOINT_HELP)
    evaluate.add_argument("--baseline", action="append", default=[], metavar="NAME=CHECKPOINT",
                          help="another trained model to compare, e.g. count_cvae=runs/cvae/checkpoint.pt (repeatable)")
    evaluate.add_argument("--problem", choices=PROBLEM_NAMES, default=None,
                          help="default: the checkpoint's training problem, or for a bare model file "
                               "the problem whose data its config fits; a model trained on files that "
                               "'compvae-geo export' wrote: the problem that wrote them")
    add_config_overrides(evaluate, EvalConfig, set(), "what to measure",
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
    from ..evaluation.per_k import as_json
    from ..evaluation.progress import listening
    from ..evaluation.report import per_k_tables, tail_table, whatif_change_table, whatif_table
    from ..evaluation.run import evaluate_checkpoints
    from ..evaluation.tail import as_json as tail_json
    from ..evaluation.whatif import as_json as whatif_json

    if args.data is not None:
        return _evaluate_data(args)
    config = EvalConfig(**config_overrides(args, EvalConfig))
    tracking = None if args.no_mlflow else (args.tracking_uri, args.run_id)
    with listening(_ProgressBars()):
        run = evaluate_checkpoints(args.checkpoint, _parse_baselines(args.baseline), config, args.problem,
                                   args.out_dir, tracking, "compvae-geo " + shlex.join(args.argv), args.whatif,
                                   args.tail, per_k=not args.no_per_k)
    tables = list(per_k_tables(as_json(run.evaluation)).values()) if run.evaluation else []
    if run.whatif is not None:
        tables.append(("what-if recomposition: energy distance to the true what-if wholes ('true': the noise floor); "
                       "ratio: model / better baseline", whatif_table(whatif_json(run.whatif))))
        tables.append(("what-if: the mean change of the whole's sum from the observed whole, relative error to the "
                       "true change", whatif_change_table(whatif_json(run.whatif))))
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
    from ..evaluation.data import cells_table, elbo_table, evaluate_data

    if args.whatif or args.tail or args.no_per_k:
        raise ValueError("--whatif, --tail and --no-per-k need a problem's true generator; --data has none")
    tracking = None if args.no_mlflow else (args.tracking_uri, args.run_id)
    document, path = evaluate_data(args.checkpoint, _parse_baselines(args.baseline), args.data, args.split,
                                   args.min_wholes, args.out_dir, "compvae-geo " + shlex.join(args.argv), tracking)
    print(f"held-out ELBO, bits per whole, on the {args.split} split beside the training split\n"
          f"{elbo_table(document).text()}")
    cells = document["multisets"]
    if cells:
        from ..evaluation.data import MultisetCell

        table = cells_table([MultisetCell(**cell) for cell in cells])
        print(f"\nmultisets of the {args.split} split with at least {args.min_wholes} wholes: generated against "
              f"observed (standardised per position)\n{table.text()}")
    else:
        print(f"\nno multiset of the {args.split} split has {args.min_wholes} wholes (--min-wholes)")
    print(f"wrote {path}")
    return 0


def add_report_arguments(report: argparse.ArgumentParser) -> None:
    """``compvae-geo report``: the results document of an evaluation."""
    report.add_argument("--evaluation", type=Path, required=True, help="an evaluation.json of 'evaluate'")
    report.add_argument("--out", type=Path, default=None,
                        help="the Markdown file (default: docs/<problem>_results.md); its figures go to "
                             "figures/<problem>/ next to it, so the problems never overwrite each other's")
    report.add_argument("--readme", type=Path, default=None,
                        help="also rewrite the problem's headline table in this Markdown file, between its "
                             "'<!-- headline PROBLEM: ... -->' and '<!-- end headline PROBLEM -->' lines")


def run_report(args: argparse.Namespace) -> int:
    """Writes the results document of an evaluation."""
    from ..evaluation.report import write_report

    out, num_figures = write_report(args.evaluation, args.out, args.readme)
    print(f"wrote {out} ({num_figures} figures in {out.parent / 'figures'})")
    return 0
