"""The held-out ELBO of a model per number of parts: what training logs, and what the evaluation reports."""
from __future__ import annotations

import torch

from compvae_geo.datasets import PartsProblem

from ..models import LossTerms, SavableModel


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
