r"""How much recorded data does a planner need? Households through the file path, measured and written up.

Each size N had its files exported and a model trained on them (``RUNS/dataN``, ``RUNS/trainN``)::

    compvae-geo export --problem households --wholes N --max-parts 32 --seed 7 --out RUNS/dataN
    compvae-geo train --preset cpu --data RUNS/dataN --out-dir RUNS/trainN --iterations 18000 --batch-size 128 \
        --lr-halving-every 4000 --kl-warmup-steps 2000 --z-dim 48 --render-channels 4 --prior-group-factor true \
        --z-first true --eval-every 1000 --patience 4

(the households ``cpu`` preset's schedule and model). Then

    python examples/households_through_files.py --runs RUNS --sizes 2000,10000,50000 --out docs/households_files.md

measures, for each size, the best weights (``best.pt``, by the validation ELBO) and the last ones:

1. against the true generator on random multisets the files never held (``compvae-geo evaluate --problem
   households``), beside the on-the-fly ``cpu`` preset's numbers from ``--reference`` (the same evaluation
   settings and seed, so the same multisets and true wholes);
2. on the files without a true generator (``compvae-geo evaluate --data``): the test split (feeders the model never
   saw) and the seen feeders on new days (``export --same-multisets-as``, ``--split train``).

Each evaluation's ``evaluation.json`` stays in ``RUNS/trainN``; one that exists is not measured again. The document
is written from them (no number typed by hand).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from compvae_geo.cli import main as compvae_geo
from compvae_geo.evaluation.config import largest_peak_error
from compvae_geo.evaluation.tables import Table

PART_COUNTS = "1,2,4,8,16,32,64,128"
FILES_MODEL = "compvae"  # the file model's name in its evaluation documents
PRESET = "cpu preset (stream)"  # the reference model's column


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line, checked: every size's training is there."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=Path, required=True, help="the directory of dataN and trainN")
    parser.add_argument("--sizes", default="2000,10000,50000", help="the N of each dataN/trainN, comma-separated")
    parser.add_argument("--reference", type=Path, default=Path("docs/households_evaluation.json"),
                        help="the on-the-fly model's evaluation (its model 'compvae')")
    parser.add_argument("--num-samples", type=int, default=1000)
    parser.add_argument("--part-counts", default=PART_COUNTS)
    parser.add_argument("--multisets", type=int, default=4, help="random multisets per K against the simulator")
    parser.add_argument("--min-wholes", type=int, default=50, help="evaluate --data: wholes per multiset compared")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("docs/households_files.md"))
    args = parser.parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else argv
    args.sizes = [int(size) for size in args.sizes.split(",")]
    missing = [args.runs / f"train{n}" / "checkpoint.pt" for n in args.sizes
               if not (args.runs / f"train{n}" / "checkpoint.pt").exists()]
    if missing:
        parser.error(f"no trained checkpoint at {', '.join(map(str, missing))} (see this script's docstring)")
    return args


def run(argv: list[str]) -> None:
    """``compvae-geo argv``; ``SystemExit`` naming it if it fails."""
    print("compvae-geo " + " ".join(argv), flush=True)
    if compvae_geo(argv) != 0:
        raise SystemExit(f"failed: compvae-geo {' '.join(argv)}")


def measure(args: argparse.Namespace, n: int) -> dict[str, Any]:
    """The evaluation documents of size ``n`` (measured where they are not there yet)."""
    data, train = args.runs / f"data{n}", args.runs / f"train{n}"
    later = args.runs / f"later{n}"
    simulator = train / "vs-simulator" / "evaluation.json"
    if not simulator.exists():
        run(["evaluate", "--checkpoint", str(train / "best.pt"), "--problem", "households", "--no-mlflow",
             "--num-samples", str(args.num_samples), "--multisets", str(args.multisets),
             "--part-counts", args.part_counts, "--seed", str(args.seed), "--out-dir", str(simulator.parent)])
    if not later.exists():
        run(["export", "--problem", "households", "--same-multisets-as", str(data), "--out", str(later),
             "--seed", str(args.seed + 1)])
    documents = {"simulator": json.loads(simulator.read_text())}
    for name, files, split in (("new feeders", data, "test"), ("seen feeders, new days", later, "train")):
        out = train / f"files-{split}"
        if not (out / "evaluation.json").exists():
            run(["evaluate", "--checkpoint", str(train / "checkpoint.pt"), "--baseline", f"best={train / 'best.pt'}",
                 "--data", str(files), "--split", split, "--min-wholes", str(args.min_wholes), "--out-dir", str(out),
                 "--no-mlflow"])
        documents[name] = json.loads((out / "evaluation.json").read_text())
    return documents


def per_k(reference: dict[str, Any], measured: dict[int, dict[str, Any]]) -> dict[int, dict[str, dict[str, Any]]]:
    """Per K, the distances of each source against the true generator: the file models, the preset, naive, true."""
    first = next(iter(measured.values()))["simulator"]
    rows: dict[int, dict[str, dict[str, Any]]] = {}
    preset = {row["k"]: row for row in reference["per_k"]} if comparable(reference, first) else {}
    for row in first["per_k"]:
        k = row["k"]
        rows[k] = {f"files {n:,}": documents["simulator"]["per_k"][i]["distances"][FILES_MODEL]
                   for n, documents in measured.items() for i in [_index(documents["simulator"], k)]}
        if k in preset:
            rows[k][PRESET] = preset[k]["distances"]["compvae"]
        rows[k].update(naive=row["distances"]["naive"], true=row["distances"]["true"])
    return rows


def comparable(reference: dict[str, Any], evaluation: dict[str, Any]) -> bool:
    """Whether two evaluations drew the same multisets and true wholes (the same settings and seed)."""
    keys = ("num_samples", "multisets_per_k", "permutations", "seed")
    return all(reference["settings"].get(key) == evaluation["settings"].get(key) for key in keys)


def _index(document: dict[str, Any], k: int) -> int:
    return [row["k"] for row in document["per_k"]].index(k)


def simulator_tables(reference: dict[str, Any], measured: dict[int, dict[str, Any]]) -> list[tuple[str, Table]]:
    """MMD², the largest daily-peak quantile error and the energy-spread error per K, for every source."""
    rows = per_k(reference, measured)
    sources = list(next(iter(rows.values())))

    def table(cell: Any) -> Table:
        return Table(["K", *sources], [[str(k), *(cell(by_source[s]) if s in by_source else "-" for s in sources)]
                                       for k, by_source in rows.items()])

    def peak(d: dict[str, Any]) -> str:
        errors = d.get("planner_errors") or {}
        return f"{100 * largest_peak_error(errors):.0f} %" if errors else "-"

    def spread(d: dict[str, Any]) -> str:
        errors = d.get("planner_errors") or {}
        return f"{100 * errors['energy_std']:.0f} %" if errors else "-"

    return [("MMD² to the true wholes (standardised per quarter-hour)", table(lambda d: f"{d['mmd2']:.4f}")),
            ("Largest error of the daily-peak P50/P90/P99", table(peak)),
            ("Error of the daily-energy standard deviation", table(spread))]


def files_table(measured: dict[int, dict[str, Any]]) -> Table:
    """Per size and model: the ELBO gap and the mean distances on new feeders and on seen feeders' new days."""
    rows = []
    for n, documents in measured.items():
        test, later = documents["new feeders"], documents["seen feeders, new days"]
        for model in ("best", FILES_MODEL):
            elbo = test["elbo_bits"][model]
            cells = [_mean_cell(document["multisets"], model) for document in (test, later)]
            rows.append([f"{n:,}", "best.pt" if model == "best" else "last", f"{elbo['train']:.1f}",
                         f"{later['elbo_bits'][model]['train']:.1f}", f"{elbo['test']:.1f}", *cells])
    return Table(["wholes", "weights", "ELBO bits: training wholes", "seen feeders, new days", "new feeders",
                  "new feeders: MMD² / peak error (multisets)", "seen feeders, new days: MMD² / peak error"], rows)


def _mean_cell(cells: list[dict[str, Any]], model: str) -> str:
    """The mean MMD² and largest peak-quantile error over the multisets of a split, and how many there were."""
    if not cells:
        return "- (0)"
    mmd2 = sum(cell["mmd2"][model] for cell in cells) / len(cells)
    peak = sum(largest_peak_error(cell["planner_errors"][model]) for cell in cells) / len(cells)
    return f"{mmd2:.4f} / {100 * peak:.0f} % ({len(cells)})"


def data_table(args: argparse.Namespace, measured: dict[int, dict[str, Any]]) -> Table:
    """Each size's splits (as the training made them) and its training as its checkpoint records it."""
    from compvae_geo.checkpoint import read_model_payload
    from compvae_geo.training.launch import training_command

    rows = []
    for n, documents in measured.items():
        payload = read_model_payload(args.runs / f"train{n}" / "checkpoint.pt")
        state = payload["training"]
        best = state.get("best")
        rows.append([f"{n:,}", *(f"{documents['new feeders']['split_sizes'][split]:,}"
                                 for split in ("train", "val", "test")),
                     f"{state['step']:,}", "-" if best is None else f"{best[0]:,} ({best[1]:.1f} bits)",
                     f"`{training_command(payload)}`"])
    return Table(["wholes", "training split", "validation split", "test split (new feeders)", "steps run",
                  "best.pt: step (validation ELBO)", "training"], rows)


def write(args: argparse.Namespace, reference: dict[str, Any], measured: dict[int, dict[str, Any]]) -> None:
    """The document."""
    first = next(iter(measured.values()))["simulator"]
    settings = first["settings"]
    same = comparable(reference, first)
    lines = ["# Households through the file path: how much recorded data a planner needs", "",
             f"Written by `python examples/{Path(__file__).name} {' '.join(args.argv)}` from the evaluations it "
             "lists; the files are those its docstring's commands export (feeders of 1-32 households, each on many "
             "days), each trained as its checkpoint records below (the households `cpu` preset's schedule and "
             "model).", "",
             *data_table(args, measured).markdown(), "",
             "A run with fewer steps than its `--iterations` stopped early (`--patience`) or was stopped by hand; "
             "its best weights are those of the last validation before.", "",
             "## Against the true generator, on multisets the files never held", "",
             f"`compvae-geo evaluate --problem households` of each model's best weights: {settings['num_samples']} "
             f"generated against as many true days for each of {settings['multisets_per_k']} random multisets per K "
             f"(seed {settings['seed']}), beside the naive simulator and "
             + (f"the model trained on the simulator's stream (`{args.reference}`, measured with the same settings: "
                "the same multisets and true days)" if same else
                f"not the model trained on the simulator's stream (`{args.reference}` was measured with other "
                "settings)")
             + "; 'true' is a second true sample (the noise floor). K = 64 and 128 are beyond every training.", ""]
    for title, table in simulator_tables(reference, measured):
        lines += [f"### {title}", "", *table.markdown(), ""]
    lines += ["## On the files, without a true generator", "",
              "`compvae-geo evaluate --data`: the ELBO in bits per whole of the training split's wholes, of the "
              "seen feeders on new days (`export --same-multisets-as`) and of the test split's feeders (never "
              f"seen); MMD² and the largest daily-peak quantile error of the multisets with at least "
              f"{args.min_wholes} wholes, mean over them (their number in brackets).", "",
              *files_table(measured).markdown(), ""]
    args.out.write_text("\n".join(lines))
    print(f"wrote {args.out}")


def main(argv: list[str] | None = None) -> None:
    """Measures what is not measured yet, then writes the document."""
    args = parse_args(argv)
    reference = json.loads(args.reference.read_text())
    measured = {n: measure(args, n) for n in args.sizes}
    write(args, reference, measured)


if __name__ == "__main__":
    main()
