"""What the households observation models cost a training step.

The households CPU preset's Gaussian decoder against the decoder that speaks for one household
(``per_part_decoder``) and the one whose households also jump at random (``observation_jumps``, the exact law of a
sum of K jumping parts: K + 1 Gaussian components per quarter-hour; ``jumps_read_render``: their jump network also
reads the rendered parts; ``jump_kinds`` 2: jumps of two kinds, 2 (K + 1) components), and the sine step of the sine
preset, the machine's benchmark figure.

    python benchmarks/bench_observation_models.py [--steps 20] [--rounds 3]

Steps at the preset's largest K (32 households, the slowest part of a run), alternating the models in rounds in one
process, so the ratios are measured against a baseline in the same run.
"""
from __future__ import annotations

import argparse

from preset_steps import report, step_times

VARIANTS = {"gaussian": {}, "per part": dict(per_part_decoder=True),
            "per part + jumps": dict(per_part_decoder=True, observation_jumps=True),
            "jumps reading renders": dict(per_part_decoder=True, observation_jumps=True, jumps_read_render=True),
            "two jump kinds": dict(per_part_decoder=True, observation_jumps=True, jump_kinds=2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    sine = step_times("sine", {"preset": {}}, args.steps, args.rounds)["preset"]
    print(f"the machine: the sine step of the sine preset takes {sine:.0f} ms")
    times = step_times("households", VARIANTS, args.steps, args.rounds)
    print(report("households", times, "per part + jumps", "gaussian"))
    print(report("households", times, "per part", "gaussian"))
    print(report("households", times, "jumps reading renders", "per part + jumps"))
    print(report("households", times, "two jump kinds", "per part + jumps"))


if __name__ == "__main__":
    main()
