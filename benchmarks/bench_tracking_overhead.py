"""What MLflow tracking costs the training loop: the same steps with and without a tracker.

    python benchmarks/bench_tracking_overhead.py [--steps 600] [--log-every 50]

Both runs use the same seed, config and data; the tracker writes to a temporary SQLite store.
Prints steps/s of each and the relative slowdown, measured in the same process.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from compvae_geo.tracking import Tracker
from compvae_geo.training import RunSpec, TrainConfig, Trainer


def steps_per_second(config: TrainConfig, folder: Path, tracker: Tracker | None) -> float:
    trainer = Trainer(RunSpec.build(config, folder / "bench.pt"), tracker)
    for _ in range(config.log_every):  # warm-up outside the timed part
        trainer.train_step()
    trainer.step = 0
    start = time.perf_counter()
    trainer.run()
    return config.iterations / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--log-every", type=int, default=TrainConfig.log_every)
    args = parser.parse_args()
    # K fixed at the preset's maximum and no held-out evaluation: only the logging differs.
    config = TrainConfig(iterations=args.steps, log_every=args.log_every, k_start=TrainConfig.k_max,
                         eval_every=10 * args.steps, checkpoint_minutes=1e6)
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        plain = steps_per_second(config, folder, None)
        tracked = steps_per_second(config, folder, Tracker("bench", f"sqlite:///{folder / 'mlflow.db'}"))
    print(f"without tracking: {plain:.1f} steps/s")
    print(f"with MLflow (SQLite, a batch every {args.log_every} steps): {tracked:.1f} steps/s")
    print(f"slowdown: {100 * (plain / tracked - 1):.1f}%")


if __name__ == "__main__":
    main()
