"""What the part-prior options cost a training step.

Each problem's CPU preset with the paper's independent prior, with ``prior_group_factor``, and with
``prior_group_factor`` plus ``prior_context_layers`` (the prior reads the rest of the multiset).

    python benchmarks/bench_part_prior.py [--steps 40] [--rounds 3] [--problems sine,sites] [--context-layers 2]

Steps at the preset's largest K, alternating the models in rounds in one process, so the ratios are
measured against a baseline in the same run. Prints ms per step of each and each ratio to the
independent prior.
"""
from __future__ import annotations

import argparse

from preset_steps import report, step_times

BASELINE = "independent prior"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--problems", default="sine,sites")
    parser.add_argument("--context-layers", type=int, default=2)
    args = parser.parse_args()
    for problem in args.problems.split(","):
        variants = {BASELINE: dict(prior_group_factor=False, prior_context_layers=0),
                    "group-factor prior": dict(prior_group_factor=True, prior_context_layers=0),
                    "group-factor + context prior": dict(prior_group_factor=True,
                                                         prior_context_layers=args.context_layers)}
        times = step_times(problem, variants, args.steps, args.rounds)
        for measured in list(variants)[1:]:
            print(report(problem, times, measured, BASELINE))


if __name__ == "__main__":
    main()
