"""The logged losses of a short seeded training: a refactoring that keeps the maths keeps them bit for bit.

``python benchmarks/loss_trace.py --problem households --steps 300 --out before.json`` before a change, the same
with ``--out after.json`` after it, then ``python benchmarks/loss_trace.py --compare before.json after.json``.
The trace holds every logged training loss (``--log-every`` steps), the held-out ELBO at the last step and a hash
of the final weights, all written with ``repr`` so that equal means bitwise equal.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import torch

from compvae_geo.training import RunSpec, Trainer, preset


def weights_hash(model: torch.nn.Module) -> str:
    """A hash of the multiset of the weights' tensors (their bytes): blind to module names and order."""
    tensors = sorted(hashlib.sha256(tensor.detach().cpu().contiguous().numpy().tobytes()).hexdigest()
                     for tensor in model.state_dict().values())
    return hashlib.sha256("".join(tensors).encode()).hexdigest()


def trace(problem: str, preset_name: str, steps: int, log_every: int) -> dict:
    """Trains ``steps`` steps of the preset on CPU and returns what it logged."""
    train, model = preset(preset_name, problem)
    train = replace(train, iterations=steps, log_every=log_every, eval_every=steps, device="cpu",
                    checkpoint_minutes=1e6)
    logged: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as folder:
        trainer = Trainer(RunSpec.build(train, Path(folder) / "trace.pt", model))
        trainer.run(on_log=lambda step, metrics: logged.append(
            {"step": step, **{k: repr(v) for k, v in metrics.items() if "loss" in k or "heldout" in k}}))
        return {"problem": problem, "preset": preset_name, "logged": logged, "weights": weights_hash(trainer.model)}


def compare(before: Path, after: Path) -> int:
    """0 when both traces are equal, else 1 with the first difference printed."""
    first, second = json.loads(before.read_text()), json.loads(after.read_text())
    for a, b in zip(first["logged"], second["logged"]):
        if a != b:
            print(f"differs at step {a['step']}: {a} != {b}")
            return 1
    if len(first["logged"]) != len(second["logged"]) or first["weights"] != second["weights"]:
        print("the logged steps or the final weights differ")
        return 1
    print(f"identical: {len(first['logged'])} logged intervals and the final weights")
    return 0


def main() -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problem", default="sine")
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--log-every", type=int, default=10)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--compare", type=Path, nargs=2, metavar=("BEFORE", "AFTER"))
    args = parser.parse_args()
    if args.compare:
        return compare(*args.compare)
    result = json.dumps(trace(args.problem, args.preset, args.steps, args.log_every), indent=1)
    if args.out:
        args.out.write_text(result)
    else:
        print(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
