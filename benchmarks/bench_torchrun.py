"""Training throughput of one process against torchrun with N processes on the same machine.

    python benchmarks/bench_torchrun.py [--processes 2] [--steps 300] [--problem sine]

Runs the problem's ``cpu`` preset from its largest K for ``--steps`` steps, once as one process with all
the machine's threads and once under ``torchrun`` with ``--processes`` ranks sharing them (same global
batch), and prints the median wholes per second of each (the ``datapoints_per_s`` the runs log to MLflow,
after the first interval) and their ratio. On one CPU machine the ranks share its cores, so this measures
the overhead of data parallelism, not a speed-up; across machines or GPUs each rank brings its own.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from mlflow.tracking import MlflowClient


def wholes_per_second(store: str) -> float:
    client = MlflowClient(tracking_uri=store)
    (run,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
    history = client.get_metric_history(run.info.run_id, "datapoints_per_s")
    return statistics.median(metric.value for metric in sorted(history, key=lambda m: m.step)[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--problem", default="sine")
    args = parser.parse_args()
    threads = os.cpu_count() or 1
    flags = ["train", "--problem", args.problem, "--iterations", str(args.steps), "--k-start", "16", "--log-every",
             "25", "--eval-every", str(10 * args.steps)]
    launches = {
        "1 process": ([sys.executable, "-m", "compvae_geo"], threads),
        f"torchrun x {args.processes}": ([sys.executable, "-m", "torch.distributed.run", "--standalone",
                                          "--nproc-per-node", str(args.processes), "-m", "compvae_geo"],
                                         max(1, threads // args.processes)),
    }
    rates = {}
    with tempfile.TemporaryDirectory() as folder:
        for index, (name, (command, per_process)) in enumerate(launches.items()):
            store = f"sqlite:///{Path(folder) / f'{index}.db'}"
            env = {**os.environ, "OMP_NUM_THREADS": str(per_process)}
            subprocess.run([*command, *flags, "--out-dir", str(Path(folder) / str(index)), "--tracking-uri", store],
                           check=True, env=env, capture_output=True)
            rates[name] = wholes_per_second(store)
            print(f"{name} ({per_process} threads each): {rates[name]:.0f} wholes/s", flush=True)
    first, second = rates.values()
    print(f"ratio (torchrun / one process): {second / first:.2f}")


if __name__ == "__main__":
    main()
