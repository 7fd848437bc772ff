"""``compvae-geo generate``: wholes of given parts (or their peak days) under given conditions, with what was asked."""
from __future__ import annotations

import argparse
import json
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..problems import PROBLEM_NAMES
from .common import CHECKPOINT_HELP, checkpoint_argument, parse_parts, parse_rows


def add_generate_arguments(generate: argparse.ArgumentParser) -> None:
    """``compvae-geo generate``: wholes of given parts (or their peak days), under given conditions."""
    generate.add_argument("--checkpoint", type=checkpoint_argument, required=True, metavar="CHECKPOINT",
                          help=CHECKPOINT_HELP)
    parts = generate.add_mutually_exclusive_group(required=True)
    parts.add_argument("--parts", type=parse_parts, default=None, metavar="L1,L2,...",
                       help="the categories of one whole's parts: labels (single,family,family) or ids (0,3,3,7)")
    parts.add_argument("--parts-file", type=Path, default=None, metavar="FILE",
                       help="a parts table (.csv or .parquet: whole_id, category, descriptors, conditions by name), "
                            "any number of wholes (docs/serving.md)")
    generate.add_argument("--part-attr", type=parse_rows, default=None, metavar="A,B;C,D;...",
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
    add_output_arguments(generate, "generated.csv", "the wholes", "the first whole's draws")
    generate.add_argument("--tail-quantile", type=float, default=None, metavar="Q",
                          help="only wholes whose --statistic exceeds its Q-quantile under the model (e.g. 0.99: the "
                               "1-in-100 peak days), sampled without rejection")
    generate.add_argument("--statistic", choices=("peak", "energy", "mean"), default="peak",
                          help="the statistic of --tail-quantile: the largest value, the sum or the mean")


def add_output_arguments(parser: argparse.ArgumentParser, default: str, what: str, plotted: str) -> None:
    """``--out`` (a long table or an array, with a ``.json`` of what was asked), ``--overwrite`` and ``--plot``."""
    parser.add_argument("--out", type=Path, default=Path(default),
                        help=f"where {what} go: .csv or .parquet (long: whole_id, sample, step, value), .pt or .npy "
                             "(an array); a .json of what was asked beside it, and a .png plot")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    parser.add_argument("--plot", action=argparse.BooleanOptionalAction, default=True,
                        help=f"plot {plotted} beside --out (default: yes)")


def run_generate(args: argparse.Namespace) -> int:
    """Generates wholes for the parts of the command line or of a parts file, and writes them with a plot."""
    import torch

    from ..checkpoint import read_model_payload
    from ..evaluation.figures import WholeLook, samples_figure
    from ..models import model_from_payload
    from ..problems import make_problem, model_terms
    from ..serving.generation import GenerationSettings, draw_wholes, measured_with_noise
    from ..serving.requests import read_requests

    check_out(args.out, GENERATED_SUFFIXES, args.overwrite)
    if args.parts_file is not None and (args.part_attr is not None or args.condition):
        raise ValueError("--part-attr and --condition go with --parts; a --parts-file holds its own")
    payload = read_model_payload(args.checkpoint)
    model, terms = model_from_payload(payload, str(args.checkpoint)).eval(), model_terms(payload)
    params = {"num_samples": args.num_samples, "seed": args.seed, "tail_quantile": args.tail_quantile or 0.0,
              "tail_statistic": args.statistic}
    if args.observation_noise is not None:
        params["observation_noise"] = args.observation_noise
    settings = GenerationSettings.of(params, model, measured_with_noise(payload))
    table = _read_parts_file(args.parts_file) if args.parts_file else parts_table(args, terms, payload)
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
    write_generated(args.out, [request.whole_id for request in requests], [draw.wholes for draw in draws])
    _write_sidecar(args, requests, settings, terms)
    written = [str(args.out), str(sidecar_path(args.out))]
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


def check_out(out: Path, suffixes: tuple[str, ...], overwrite: bool) -> None:
    """``ValueError`` unless ``--out`` names a file of one of ``suffixes`` that may be written (before any work)."""
    if out.suffix.lower() not in suffixes:
        raise ValueError(f"--out must end in {', '.join(suffixes)}, got {out}")
    if out.exists() and not overwrite:
        raise ValueError(f"{out} exists: choose another --out, or replace it with --overwrite")


def parts_table(args: argparse.Namespace, terms: Any, payload: dict[str, Any]) -> Any:
    """The parts table of ``--parts``, ``--part-attr`` and ``--condition`` (one whole, ``whole_id`` 0).

    A simulator's model draws the descriptors from its simulator when none are given (as ``whatif`` does).
    """
    import pandas as pd
    import torch

    from ..problems import make_problem, model_problem

    labels = labels_of(args.parts, terms)
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
    rows.update({name: [value] * len(labels) for name, value in named_conditions(args.condition).items()})
    return pd.DataFrame(rows)


def labels_of(parts: Sequence[int | str], terms: Any) -> list[Any]:
    """Categories of the command line as labels: a label as it is (integer labels too), else an id's label."""
    known = set(terms.vocabulary)
    return [str(p) if str(p) in known else terms.vocabulary[p] if isinstance(p, int) and 0 <= p < len(known) else p
            for p in parts]


def named_conditions(items: list[str]) -> dict[str, str]:
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
    from ..datasets.tables import CATEGORY, TABLE_SUFFIXES, WHOLE_ID, as_label, is_empty, read_table

    if not path.is_file():
        raise FileNotFoundError(f"no parts file at {path}")
    if path.suffix not in TABLE_SUFFIXES:
        raise ValueError(f"--parts-file must be a {' or '.join(TABLE_SUFFIXES)} file, got {path}")
    table = read_table(path)
    for column in (WHOLE_ID, CATEGORY):  # integer labels read as numbers become the labels the vocabulary holds
        if column in table.columns:
            table[column] = [None if is_empty(cell) else as_label(cell) for cell in table[column].tolist()]
    return table


def write_generated(out: Path, whole_ids: list[Any], wholes: list[Any]) -> None:
    """The draws of every request: a long table (.csv, .parquet), or an array (.pt, .npy; one whole: ``[S, ...]``)."""
    import pandas as pd
    import torch

    from ..serving.requests import long_table

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


def sidecar_path(out: Path) -> Path:
    """Where the ``.json`` of what was asked goes beside ``out``."""
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
    sidecar_path(args.out).write_text(json.dumps(document, indent=1))
