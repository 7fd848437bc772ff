"""What the group-factor part prior costs a training step: each problem's CPU preset with
``prior_group_factor`` against the same preset with the paper's independent prior.

    python benchmarks/bench_group_prior.py [--steps 40] [--rounds 3] [--problems sine,sites]

Steps at the preset's largest K, alternating the models in rounds in one process, so the ratio is
measured against a baseline in the same run. Prints ms per step of each and the ratio.
"""
from __future__ import annotations

import argparse

from preset_steps import report, step_times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--problems", default="sine,sites")
    args = parser.parse_args()
    for problem in args.problems.split(","):
        variants = {"group-factor prior": dict(prior_group_factor=True),
                    "independent prior": dict(prior_group_factor=False)}
        times = step_times(problem, variants, args.steps, args.rounds)
        print(report(problem, times, "group-factor prior", "independent prior"))


if __name__ == "__main__":
    main()
