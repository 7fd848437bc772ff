"""The CompVAE layers inside another set-structured model: a permutation-invariant regressor.

Task: from a set of K points in the unit square (K uniform in 2..``--max-points``), predict the mean
distance between two of its points, a statistic that needs the points to interact. Three models
with the same width, optimiser, steps and data:

- ``PartUpdateConv + PartSum``: an embedding, ``compvae_geo.layers.PartUpdateStack`` (each point
  updated from the sum over the *other* points of its set, eq. (5) of the CompVAE paper), a
  ``PartSum`` over each set, and a head;
- ``DeepSetsAggregation``: PyG's Deep Sets (each point alone, summed, then a head);
- ``SetTransformerAggregation``: PyG's Set Transformer (attention between the points, then pooling).

    python examples/set_layers.py [--steps 3000] [--batch-size 64] [--hidden 64] [--seed 0]

Prints each model's number of parameters and its held-out mean squared error, against the error of
always predicting the mean target.
"""
from __future__ import annotations

import argparse
import time

import torch
from torch import Tensor, nn
from torch_geometric.nn import MLP
from torch_geometric.nn.aggr import DeepSetsAggregation, SetTransformerAggregation

from compvae_geo.layers import PartSum, PartUpdateStack

POINT_DIM = 2  # points in the unit square
MIN_POINTS = 2  # the smallest set with a pair
HELD_OUT_SETS = 2048
LEARNING_RATE = 1e-3


def sample_sets(num_sets: int, max_points: int, generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
    """Points ``[N, 2]``, the set of each point ``[N]`` (sorted) and each set's mean pairwise distance ``[B]``."""
    counts = torch.randint(MIN_POINTS, max_points + 1, (num_sets,), generator=generator)
    points = torch.rand(int(counts.sum()), POINT_DIM, generator=generator)
    batch = torch.repeat_interleave(torch.arange(num_sets), counts)
    targets = torch.stack([torch.pdist(chunk).mean() for chunk in points.split(counts.tolist())])
    return points, batch, targets


class PartUpdateRegressor(nn.Module):
    """Embedding, residual eq. (5) layers over the points of each set, their sum, a head."""

    def __init__(self, hidden: int, layers: int = 2) -> None:
        super().__init__()
        self.embed = nn.Linear(POINT_DIM, hidden)
        self.updates = PartUpdateStack([hidden] * (layers + 1))
        self.sum = PartSum()
        self.head = MLP([hidden, hidden, 1], norm=None)

    def forward(self, points: Tensor, batch: Tensor, num_sets: int) -> Tensor:
        """One prediction per set, ``[B]``."""
        h = self.updates(self.embed(points), batch, num_sets)
        return self.head(self.sum(h, batch, dim_size=num_sets)).squeeze(-1)


class AggregationRegressor(nn.Module):
    """A PyG aggregation of the embedded points of each set, then a head."""

    def __init__(self, hidden: int, aggregation: nn.Module) -> None:
        super().__init__()
        self.embed = MLP([POINT_DIM, hidden, hidden], norm=None)
        self.aggregation = aggregation
        self.head = MLP([hidden, hidden, 1], norm=None)

    def forward(self, points: Tensor, batch: Tensor, num_sets: int) -> Tensor:
        """One prediction per set, ``[B]``."""
        return self.head(self.aggregation(self.embed(points), batch, dim_size=num_sets)).squeeze(-1)


def build_models(hidden: int) -> dict[str, nn.Module]:
    """The three regressors, each built from the same seed."""
    builders = {
        "PartUpdateConv + PartSum": lambda: PartUpdateRegressor(hidden),
        "DeepSetsAggregation": lambda: AggregationRegressor(
            hidden, DeepSetsAggregation(local_nn=MLP([hidden, hidden, hidden], norm=None),
                                        global_nn=MLP([hidden, hidden, hidden], norm=None))),
        "SetTransformerAggregation": lambda: AggregationRegressor(
            hidden, SetTransformerAggregation(hidden, num_seed_points=1, num_encoder_blocks=1, heads=4)),
    }
    models = {}
    for name, build in builders.items():
        torch.manual_seed(0)
        models[name] = build()
    return models


def train_and_score(model: nn.Module, steps: int, batch_size: int, max_points: int, seed: int,
                    held_out: tuple[Tensor, Tensor, Tensor]) -> float:
    """Trains ``model`` on fresh sets for ``steps`` steps; returns its held-out mean squared error."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    for _ in range(steps):
        points, batch, targets = sample_sets(batch_size, max_points, generator)
        loss = nn.functional.mse_loss(model(points, batch, batch_size), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    points, batch, targets = held_out
    with torch.no_grad():
        return float(nn.functional.mse_loss(model(points, batch, targets.numel()), targets))


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Trains the three regressors, prints their held-out errors and returns them by name."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--max-points", type=int, default=16)
    parser.add_argument("--held-out", type=int, default=HELD_OUT_SETS)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if min(args.steps, args.batch_size, args.hidden, args.held_out) < 1 or args.max_points < MIN_POINTS:
        parser.error(f"steps, batch size, width and held-out sets must be >= 1, max points >= {MIN_POINTS}")
    held_out = sample_sets(args.held_out, args.max_points, torch.Generator().manual_seed(args.seed + 1))
    baseline = float(held_out[2].var(unbiased=False))  # always predicting the mean target
    print(f"mean pairwise distance of 2..{args.max_points} points; {args.steps} steps of {args.batch_size} sets; "
          f"held-out MSE of predicting the mean: {baseline:.2e}")
    errors = {}
    for name, model in build_models(args.hidden).items():
        started = time.perf_counter()
        errors[name] = train_and_score(model, args.steps, args.batch_size, args.max_points, args.seed, held_out)
        parameters = sum(p.numel() for p in model.parameters())
        print(f"{name:>26}: held-out MSE {errors[name]:.2e} ({errors[name] / baseline:.3f} of the mean's), "
              f"{parameters:,} parameters, {time.perf_counter() - started:.0f} s")
    return errors


if __name__ == "__main__":
    main()
