"""Training-step timing of a problem's CPU preset against variants of it, in one process.

The shared core of the benchmarks that measure what a model feature costs a step.
"""
from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from compvae_geo.training import RunSpec, Trainer, preset

WARM_UP_STEPS = 3
BENCHMARK_LR = 1e-9  # the weights barely move: see trainer_for


def trainer_for(problem: str, folder: Path, **model_changes) -> Trainer:
    """A trainer of ``problem``'s CPU preset with ``model_changes``, already at its largest K.

    Its learning rate is negligible (``BENCHMARK_LR``): the weights stay at their initial values, so no
    variant diverges into skipped (cheap) steps when it starts at the largest K; every step does the full work.
    """
    train, model = preset("cpu", problem)
    train = replace(train, k_start=train.k_max, checkpoint_minutes=1e6, lr=BENCHMARK_LR,
                    lr_floor=BENCHMARK_LR)
    return Trainer(RunSpec.build(train, folder / "b.pt", {**model, **model_changes}))


def ms_per_step(trainer: Trainer, steps: int) -> float:
    """Mean wall time of ``steps`` training steps; a skipped step (no backward) is an error."""
    start = time.perf_counter()
    for _ in range(steps):
        if trainer.train_step() is None:
            raise RuntimeError("a step was skipped (non-finite loss): its time would not be that of a step")
    return 1000 * (time.perf_counter() - start) / steps


def step_times(
    problem: str,
    variants: dict[str, dict[str, Any]],
    steps: int,
    rounds: int,
    adjust: dict[str, Callable[[Trainer], None]] | None = None,
) -> dict[str, float]:
    """Mean ms per step of each variant, measured in alternating rounds.

    Mean ms per step of each variant (model changes to the preset; ``{}`` for the preset itself),
    the models alternating in ``rounds`` of ``steps`` steps, in reversed order every other round,
    so that all see the same machine state. ``adjust``: per variant name, a change to its trainer
    once built (e.g. the same model computed another way).
    """
    with tempfile.TemporaryDirectory() as folder:
        trainers = {name: trainer_for(problem, Path(folder), **changes) for name, changes in variants.items()}
        for name, change in (adjust or {}).items():
            change(trainers[name])
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
