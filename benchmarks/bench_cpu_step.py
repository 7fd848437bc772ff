"""What a training step of a problem's CPU preset costs, against the same math computed plainly, in one process.

    python benchmarks/bench_cpu_step.py [--problem sine] [--steps 30] [--rounds 6] [--candidates]

Variants, all at the preset's largest K and alternating in rounds (so ratios are measured in the same run):

- ``preset``: the code as it is;
- ``plain sums``: the same model and weights, its sums taken as the math is written: each part rendered
  before the rendered sum, g's outputs summed in every PartUpdateConv, the whole's features copied to its
  parts (the code before the step work of issue 18; the losses are equal to float precision);
- with ``--candidates``, the model changes measured as cheaper presets (``CANDIDATES``; their quality is
  in docs/experiments.md).

Prints ms per step of each and its speed-up over ``plain sums``.
"""
from __future__ import annotations

import argparse
import types

from preset_steps import step_times

from compvae_geo.codecs.part_renderer import PartRenderer
from compvae_geo.layers import PartUpdateConv
from compvae_geo.training import Trainer

CANDIDATES = {
    "x_feature_dim 32": dict(x_feature_dim=32),
    "2 update layers": dict(num_update_layers=2),
}


def compute_plainly(trainer: Trainer) -> None:
    """The trainer's model takes its sums as written: per-part renderings and messages (same function)."""
    for module in trainer.model.modules():
        if isinstance(module, PartUpdateConv):
            module.folded = False
        if isinstance(module, PartRenderer):
            module.render_sum = types.MethodType(PartRenderer.render_sum, module)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--problem", default="sine")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--candidates", action="store_true")
    args = parser.parse_args()
    variants = {"plain sums": {}, "preset": {}, **(CANDIDATES if args.candidates else {})}
    times = step_times(args.problem, variants, args.steps, args.rounds, adjust={"plain sums": compute_plainly})
    for name, ms in times.items():
        print(f"{args.problem} {name}: {ms:.1f} ms/step, {times['plain sums'] / ms:.2f}x")


if __name__ == "__main__":
    main()
