"""Does z carry the shared factors of a whole? A linear probe from the posterior mean of z."""
from __future__ import annotations

import torch
from torch import Tensor

from compvae_geo.datasets import PartsProblem

from ..models import CompVAE

PROBE_TRAIN_SHARE = 0.5  # the probe is fitted on this share of the wholes and scored on the rest
RIDGE = 1e-3  # ridge penalty on the standardised coordinates of z: near-constant ones must not blow the fit up


@torch.no_grad()
def z_probe(model: CompVAE, problem: PartsProblem, num_wholes: int = 2000, max_parts: int = 32,
            seed: int = 0) -> dict[str, float]:
    """How well a linear map (ridge) of the posterior mean of z predicts each hidden shared factor.

    For each factor the problem names (:meth:`PartsProblem.hidden_factors`), on held-out wholes with
    their conditions hidden: R² for a continuous factor, balanced accuracy (threshold 0.5) for a 0/1 one.

    An empty dictionary for a model without z or a problem without hidden shared factors.
    """
    generator = torch.Generator().manual_seed(seed)
    batch, shared = problem.sample_batch_and_shared(num_wholes, max_parts, generator=generator)
    if shared is None or not model.config.z_dim:
        return {}
    if getattr(batch, "whole_attr", None) is not None:
        batch.whole_attr = torch.full_like(batch.whole_attr, float("nan"))  # unknown: z must carry the day
    was_training = model.training
    model.eval()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        z = model.encode(batch).z_dist.loc
    model.train(was_training)
    fit = int(PROBE_TRAIN_SHARE * num_wholes)
    z = z.double()
    z = (z - z[:fit].mean(0)) / z[:fit].std(0).clamp_min(1e-12)
    gram = z[:fit].T @ z[:fit] + RIDGE * fit * torch.eye(z.size(1), dtype=z.dtype)
    out = {}
    for name, target in problem.hidden_factors(shared).items():
        target = target.double()
        offset = target[:fit].mean()
        weights = torch.linalg.solve(gram, z[:fit].T @ (target[:fit] - offset))
        predicted = z[fit:] @ weights + offset
        held_out = target[fit:]
        if set(target.unique().tolist()) <= {0.0, 1.0}:
            out[f"{name} balanced accuracy"] = _balanced_accuracy(predicted > 0.5, held_out > 0.5)
        else:
            out[f"{name} R2"] = float(1 - (held_out - predicted).pow(2).mean() / held_out.var(unbiased=False))
    return out


def _balanced_accuracy(predicted: Tensor, actual: Tensor) -> float:
    """The mean of the true-positive and true-negative rates (0.5 for a constant guess)."""
    rates = [float((predicted[actual == label] == label).float().mean()) for label in (True, False)
             if (actual == label).any()]
    return sum(rates) / len(rates)
