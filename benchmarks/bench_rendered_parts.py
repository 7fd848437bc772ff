"""What rendering the parts costs a training step: each problem's CPU preset against the same
preset without rendered part sums (``render_channels 0``; in 1D also with the old z of 16).

    python benchmarks/bench_rendered_parts.py [--steps 40] [--rounds 3] [--problems sine,sites]

Steps at the preset's largest K (the slowest part of a run), alternating the models in rounds in
one process, so the ratio is measured against a baseline in the same run. Prints ms per step of
each and the ratio.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from compvae_geo.problems import make_problem, model_config_for
from compvae_geo.train_config import preset
from compvae_geo.training import Trainer

# The model fields each problem's preset had before rendered part sums.
WITHOUT_RENDERING = {"sine": dict(render_channels=0, z_dim=16), "sites": dict(render_channels=0, fitted_prior=False)}


def trainer_for(problem: str, folder: Path, **model_changes) -> Trainer:
    train, model = preset("cpu", problem)
    train = replace(train, k_start=train.k_max, prior_fit_steps=0, checkpoint_minutes=1e6)
    return Trainer(train, model_config_for(make_problem(problem), **{**model, **model_changes}), folder / "b.pt")


def ms_per_step(trainer: Trainer, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        trainer.train_step()
    return 1000 * (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--problems", default="sine,sites")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for problem in args.problems.split(","):
            trainers = {"preset": trainer_for(problem, Path(folder)),
                        "without rendering": trainer_for(problem, Path(folder), **WITHOUT_RENDERING[problem])}
            for trainer in trainers.values():
                ms_per_step(trainer, 3)  # warm-up
            times = {name: 0.0 for name in trainers}
            for _ in range(args.rounds):
                for name, trainer in trainers.items():
                    times[name] += ms_per_step(trainer, args.steps) / args.rounds
            cells = ", ".join(f"{name} {ms:.0f} ms/step" for name, ms in times.items())
            print(f"{problem}: {cells}; ratio {times['preset'] / times['without rendering']:.2f}")


if __name__ == "__main__":
    main()
