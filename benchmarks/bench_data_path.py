"""The file path's costs: a training step from files against the same step from the generator, and a large load.

``python benchmarks/bench_data_path.py --steps 20 --rounds 4`` times the households ``cpu`` preset's step (batch 128,
K uniform in 1..32) drawn from the generator and from exported files of the same problem, alternating, in one process;
``--wholes 1000000`` also exports that many wholes (Parquet, 30 parts each) and measures reading them into a
``WholesDataset`` (time and the process's peak memory).
"""
from __future__ import annotations

import argparse
import resource
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from compvae_geo.datasets import HouseholdParts, WholesDataset
from compvae_geo.datasets.export import export_problem
from compvae_geo.training import RunSpec, Trainer, preset

PARTS_PER_WHOLE = 30  # the large dataset's feeders


def ms_per_step(trainer: Trainer, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        trainer.train_step()
    return 1000 * (time.perf_counter() - start) / steps


def step_ratio(folder: Path, steps: int, rounds: int) -> dict[str, float]:
    """Mean ms per step from the generator and from files, alternating rounds."""
    files = export_problem(HouseholdParts(), 4096, 128, 32, folder / "files", seed=0, file_type="parquet")
    train, model = preset("cpu", "households")
    train = replace(train, k_start=train.k_max, checkpoint_minutes=1e6, lr=1e-9, lr_floor=1e-9, device="cpu")
    generator = Trainer(RunSpec.build(train, folder / "g.pt", model))
    from_files = Trainer(RunSpec.build(replace(train, data=str(files), split_by="whole"), folder / "f.pt",
                                       model))
    trainers = {"generator": generator, "files": from_files}
    for trainer in trainers.values():
        ms_per_step(trainer, 3)
    times = dict.fromkeys(trainers, 0.0)
    for round_index in range(rounds):
        for name in trainers if round_index % 2 == 0 else reversed(trainers):
            times[name] += ms_per_step(trainers[name], steps) / rounds
    return times


def large_load(folder: Path, wholes: int) -> tuple[float, float, float]:
    """Writes ``wholes`` wholes of 96 values with 30 parts each as Parquet; seconds to write, to read, peak GiB."""
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    ids = np.arange(wholes).astype(str)
    frame = pd.DataFrame(rng.random((wholes, 96), dtype=np.float32), columns=[f"v{t:02d}" for t in range(96)])
    frame.insert(0, "whole_id", ids)
    frame.to_parquet(folder / "wholes.parquet", index=False)
    parts = pd.DataFrame({"whole_id": np.repeat(ids, PARTS_PER_WHOLE),
                          "category": rng.integers(0, 7, wholes * PARTS_PER_WHOLE),
                          "annual_mwh": rng.random(wholes * PARTS_PER_WHOLE, dtype=np.float32) * 5})
    parts.to_parquet(folder / "parts.parquet", index=False)
    del frame, parts
    written = time.perf_counter() - start
    start = time.perf_counter()
    dataset = WholesDataset(folder)
    read = time.perf_counter() - start
    assert len(dataset) == wholes
    return written, read, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--wholes", type=int, default=0, help="also load a dataset of this many wholes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        times = step_ratio(Path(folder), args.steps, args.rounds)
        print(f"households cpu step: generator {times['generator']:.1f} ms, files {times['files']:.1f} ms; "
              f"files at {times['generator'] / times['files']:.2f}x the generator's speed")
    if args.wholes:
        with tempfile.TemporaryDirectory() as folder:
            written, read, peak = large_load(Path(folder), args.wholes)
            print(f"{args.wholes} wholes x 96 values, {PARTS_PER_WHOLE} parts each: written in {written:.0f} s, "
                  f"read into a WholesDataset in {read:.0f} s, peak memory {peak:.1f} GiB")


if __name__ == "__main__":
    main()
