"""What rendering the parts costs a training step.

Each problem's CPU preset against the same preset without rendered part sums (``render_channels 0``; in 1D also with the
old z of 16).

    python benchmarks/bench_rendered_parts.py [--steps 40] [--rounds 3] [--problems sine,sites]

Steps at the preset's largest K (the slowest part of a run), alternating the models in rounds in
one process, so the ratio is measured against a baseline in the same run. Prints ms per step of
each and the ratio.
"""
from __future__ import annotations

import argparse

from preset_steps import report, step_times

# The model fields each problem's preset had before rendered part sums.
WITHOUT_RENDERING = {"sine": dict(render_channels=0, z_dim=16), "sites": dict(render_channels=0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--problems", default="sine,sites")
    args = parser.parse_args()
    for problem in args.problems.split(","):
        variants = {"preset": {}, "without rendering": WITHOUT_RENDERING[problem]}
        times = step_times(problem, variants, args.steps, args.rounds)
        print(report(problem, times, "preset", "without rendering"))


if __name__ == "__main__":
    main()
