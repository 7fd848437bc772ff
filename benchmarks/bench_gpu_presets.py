"""Steps per second of the ``paper`` presets on a GPU: fp32 and bf16, with and without ``torch.compile``.

    python benchmarks/bench_gpu_presets.py [--steps 60] [--warm-up 20] [--problems sine,sites] [--out table.md]

For each problem's ``paper`` preset at batch 256 and its largest K (mixed K in 1..K_max in every batch,
as in training): steps/s after a warm-up, peak GPU memory, the number of compiled graphs after the
warm-up against at its end (recompiles), and the projected time of the full 500,000-step run.
Also runs on CPU (``--device cpu``, with a few steps) to check the script itself.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from compvae_geo.training import RunSpec, Trainer, preset

PAPER_BATCH = 256
MODES = {"fp32": dict(bf16=False, compile=False), "bf16": dict(bf16=True, compile=False),
         "fp32 + compile": dict(bf16=False, compile=True), "bf16 + compile": dict(bf16=True, compile=True)}


def compiled_graphs() -> int:
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(problem: str, mode: dict, steps: int, warm_up: int, device: str, folder: Path) -> dict:
    train, model = preset("paper", problem)
    train = replace(train, batch_size=PAPER_BATCH, k_start=train.k_max, device=device, checkpoint_minutes=1e6,
                    **mode)
    trainer = Trainer(RunSpec.build(train, folder / f"{problem}.pt", model))
    torch._dynamo.reset()
    for _ in range(warm_up):
        trainer.train_step()
    synchronize(trainer.device)
    graphs_after_warm_up = compiled_graphs()
    if trainer.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(trainer.device)
    start = time.perf_counter()
    for _ in range(steps):
        trainer.train_step()
    synchronize(trainer.device)
    seconds = (time.perf_counter() - start) / steps
    peak = torch.cuda.max_memory_allocated(trainer.device) / 2**30 if trainer.device.type == "cuda" else float("nan")
    return {"steps_per_s": 1 / seconds, "peak_gib": peak, "recompiles": compiled_graphs() - graphs_after_warm_up,
            "full_run_h": preset("paper", problem)[0].iterations * seconds / 3600}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--warm-up", type=int, default=20)
    parser.add_argument("--problems", default="sine,sites")
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--out", type=Path, default=None, help="also write the table here")
    args = parser.parse_args()
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu"
    lines = [f"`paper` presets, batch {PAPER_BATCH}, largest K, on {name} (torch {torch.__version__}): "
             f"{args.steps} steps after {args.warm_up} of warm-up", "",
             "| problem | mode | steps/s | peak GPU memory (GiB) | graphs compiled after warm-up | 500,000 steps (h) |",
             "| --- | --- | --- | --- | --- | --- |"]
    print("\n".join(lines), flush=True)
    if args.out:  # row by row, so that a run cut short by its time limit keeps what it measured
        args.out.write_text("\n".join(lines) + "\n")
    with tempfile.TemporaryDirectory() as folder:
        for problem in args.problems.split(","):
            for mode in args.modes.split(","):
                row = measure(problem, MODES[mode], args.steps, args.warm_up, args.device, Path(folder))
                line = (f"| {problem} | {mode} | {row['steps_per_s']:.1f} | {row['peak_gib']:.2f} | "
                        f"{row['recompiles']} | {row['full_run_h']:.1f} |")
                print(line, flush=True)
                if args.out:
                    with args.out.open("a") as table:
                        table.write(line + "\n")


if __name__ == "__main__":
    main()
