"""The held-out ELBO of a model: per number of parts for a generator, on the validation split for recorded data.

What training logs (through the :class:`GeneratedHeldOut` or :class:`SplitHeldOut` of its run), and what the
evaluation reports.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from compvae_geo.datasets import PartsProblem, WholesDataset
from compvae_geo.datasets.dataset_source import DatasetSource

from ..models import LossTerms, SavableModel

HELDOUT_SEED_OFFSET = 1_000_003  # held-out data never share a seed with training data
ELBO_CHUNK = 256  # recorded wholes per forward pass of the held-out ELBO


@torch.no_grad()
def heldout_elbo_bits(
    model: SavableModel, problem: PartsProblem, part_counts: tuple[int, ...], num_wholes: int = 256, seed: int = 0,
    device: torch.device | str = "cpu",
) -> dict[int, LossTerms[float]]:
    """Mean L_w, L_z and L_x in bits per whole on ``num_wholes`` held-out wholes with exactly K parts, for each K.

    Fixed data and latent noise for a given ``seed``; the global RNG is untouched.
    """
    device = torch.device(device)
    generator = torch.Generator(device).manual_seed(seed)
    was_training = model.training
    model.eval()
    out = {}
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        for k in part_counts:
            batch = problem.sample_batch(num_wholes, k, min_parts=k, generator=generator, device=device)
            out[k] = model.loss(batch).mean_bits()
    model.train(was_training)
    return out


@dataclass(frozen=True)
class GeneratedHeldOut:
    """The held-out sets of a generator: ``num_wholes`` fresh wholes with exactly K parts, for each K."""

    problem: PartsProblem
    part_counts: tuple[int, ...]
    num_wholes: int
    seed: int

    def elbo_bits(self, model: SavableModel, device: torch.device) -> dict[str, float]:
        """The mean held-out ELBO in bits per whole, as ``heldout_elbo_bits/K<k>`` metrics."""
        per_k = heldout_elbo_bits(model, self.problem, self.part_counts, self.num_wholes, self.seed, device)
        return {f"heldout_elbo_bits/K{k:03d}": terms.elbo for k, terms in per_k.items()}


@dataclass(frozen=True)
class SplitHeldOut:
    """The held-out set of recorded data: the validation split (its first ``num_wholes`` wholes)."""

    source: DatasetSource
    num_wholes: int
    seed: int

    def elbo_bits(self, model: SavableModel, device: torch.device) -> dict[str, float]:
        """The mean ELBO in bits per whole of the validation split, as the ``heldout_elbo_bits/val`` metric."""
        index = self.source.index[:self.num_wholes]
        return {"heldout_elbo_bits/val": dataset_elbo_bits(model, self.source.dataset, index, self.seed, device)}


@torch.no_grad()
def dataset_elbo_bits(model: SavableModel, dataset: WholesDataset, index: Tensor, seed: int = 0,
                      device: torch.device | str = "cpu") -> float:
    """The mean ELBO in bits per whole of a dataset's wholes ``index``, ``ELBO_CHUNK`` at a time.

    Fixed latent noise for ``seed``; the global RNG and the model's training mode are left as they were.
    """
    device = torch.device(device)
    was_training = model.training
    model.eval()
    total = 0.0
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        for start in range(0, index.numel(), ELBO_CHUNK):
            chunk = index[start:start + ELBO_CHUNK]
            total += model.loss(dataset.batch(chunk).to(device)).mean_bits().elbo * chunk.numel()
    model.train(was_training)
    return total / max(index.numel(), 1)
