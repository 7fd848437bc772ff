"""Training-step timing of a problem's CPU preset against variants of it, in one process.

The shared core of the benchmarks that measure what a model feature costs a step.
"""
from __future__ import annotations

import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from compvae_geo.problems import make_problem, model_config_for
from compvae_geo.training import Trainer, preset

WARM_UP_STEPS = 3


def trainer_for(problem: str, folder: Path, **model_changes) -> Trainer:
    """A trainer of ``problem``'s CPU preset with ``model_changes``, already at its largest K."""
    train, model = preset("cpu", problem)
    train = replace(train, k_start=train.k_max, checkpoint_minutes=1e6)
    return Trainer(train, model_config_for(make_problem(problem), **{**model, **model_changes}), folder / "b.pt")


def ms_per_step(trainer: Trainer, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        trainer.train_step()
    return 1000 * (time.perf_counter() - start) / steps


def step_times(problem: str, variants: dict[str, dict[str, Any]], steps: int, rounds: int) -> dict[str, float]:
    """Mean ms per step of each variant, measured in alternating rounds.

    Mean ms per step of each variant (model changes to the preset; ``{}`` for the preset itself),
    the models alternating in ``rounds`` of ``steps`` steps, in reversed order every other round,
    so that all see the same machine state.
    """
    with tempfile.TemporaryDirectory() as folder:
        trainers = {name: trainer_for(problem, Path(folder), **changes) for name, changes in variants.items()}
        for trainer in trainers.values():
            ms_per_step(trainer, WARM_UP_STEPS)
        times = {name: 0.0 for name in trainers}
        for round_index in range(rounds):
            names = list(trainers) if round_index % 2 == 0 else list(reversed(trainers))  # no one always first
            for name in names:
                times[name] += ms_per_step(trainers[name], steps) / rounds
    return times


def report(problem: str, times: dict[str, float], measured: str, baseline: str) -> str:
    """One line: ms per step of each variant, and the ratio of ``measured`` to ``baseline``."""
    cells = ", ".join(f"{name} {ms:.0f} ms/step" for name, ms in times.items())
    return f"{problem}: {cells}; ratio {times[measured] / times[baseline]:.2f}"
