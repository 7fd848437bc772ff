"""``compvae-geo export``: a problem's wholes and parts as files (the layout of your own data)."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..problems import PROBLEM_NAMES


def add_export_arguments(export: argparse.ArgumentParser) -> None:
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


def run_export(args: argparse.Namespace) -> int:
    """Writes a problem's wholes as files."""
    from ..datasets.export import export_new_days, export_problem
    from ..problems import make_problem

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
