"""The model's peak days: wholes of one multiset whose statistic exceeds a quantile, without brute-force rejection."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from ..validation import as_multisets, check_multiset, check_num_samples
from .subset_simulation import TailSettings, sample_tail

if TYPE_CHECKING:
    from ..models import CompVAE

CHUNK_SAMPLES = 256  # wholes generated at a time

STATISTICS: dict[str, Callable[[Tensor], Tensor]] = {  # statistics of wholes [S, *obs_shape] -> [S] by name
    "peak": lambda wholes: wholes.flatten(1).amax(-1),
    "energy": lambda wholes: wholes.flatten(1).sum(-1),
    "mean": lambda wholes: wholes.flatten(1).mean(-1),
}


def statistic_function(statistic: str | Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
    """A statistic by name (:data:`STATISTICS`), or the function itself."""
    if callable(statistic):
        return statistic
    if statistic not in STATISTICS:
        raise ValueError(f"unknown statistic {statistic!r}; known: {sorted(STATISTICS)}, or a function of wholes")
    return STATISTICS[statistic]


@dataclass
class TailSample:
    """Wholes in the tail of a statistic (:func:`generate_tail`), and what they cost."""

    wholes: Tensor  # [num_samples, *obs_shape]
    statistic: Tensor  # [num_samples], each above threshold
    threshold: float  # the estimated quantile of the statistic under the model
    threshold_error: float  # its Monte-Carlo standard error
    evaluations: int  # wholes the model generated in all
    chain_evaluations: int  # of which by the sampling chains after their burn-in (what more samples cost)
    effective_samples: float  # effectively independent samples (from the chains' autocorrelation)
    acceptance: float  # acceptance rate of the sampling chains


@torch.no_grad()
def generate_tail(
    model: CompVAE,
    parts: Tensor | list[int],
    num_samples: int,
    statistic: str | Callable[[Tensor], Tensor] = "peak",
    quantile: float = 0.99,
    part_attr: Tensor | None = None,
    whole_attr: Tensor | None = None,
    observation_noise: bool = False,
    settings: TailSettings | None = None,
) -> TailSample:
    """Wholes of one multiset whose ``statistic`` exceeds its ``quantile`` under the model (its peak days).

    Samples the model's own conditional law given the statistic above its q-quantile, without brute-force
    rejection: subset simulation and preconditioned Crank-Nicolson chains in the standard-normal noise of
    :meth:`~compvae_geo.CompVAE.wholes_from_noise` (:func:`~compvae_geo.structural.subset_simulation.sample_tail`),
    which also estimate the quantile with its Monte-Carlo error and count the model evaluations.

    Args:
        model: a :class:`~compvae_geo.CompVAE`.
        parts: categories ``[K]`` of the multiset (or a list of ints).
        num_samples: tail wholes to return.
        statistic: a name of :data:`STATISTICS` (``peak``: the largest value of a whole; ``energy``: its sum;
            ``mean``) or a function of wholes ``[S, *obs_shape]`` to ``[S]``.
        quantile: q in (0, 1).
        part_attr: descriptors ``[K, F]`` of the parts, if the model uses them (as in ``generate``).
        whole_attr: the known conditions ``[whole_attr_dim]`` (as in ``generate``).
        observation_noise: the wholes include the observation model's noise (as ``generate``'s).
        settings: how the sampler spends its evaluations (:class:`TailSettings`).
    """
    parts = as_multisets(parts)
    if not isinstance(parts, Tensor):
        raise ValueError("generate_tail takes one multiset")
    check_num_samples(num_samples)
    measure = statistic_function(statistic)
    multiset = check_multiset(parts, part_attr, whole_attr, model.config, model.dtype)  # checked once, here
    template = model.generation_noise(parts, 1, observation_noise)

    def wholes(tensors: list[Tensor]) -> Tensor:
        return model.wholes_of(multiset.copies(tensors[0].size(0)), template.like(tensors))

    def draw(n: int) -> list[Tensor]:
        return model.generation_noise(parts, n, observation_noise).as_list()

    def score(tensors: list[Tensor]) -> Tensor:
        return torch.cat([measure(wholes([t[start:start + CHUNK_SAMPLES] for t in tensors]))
                          for start in range(0, tensors[0].size(0), CHUNK_SAMPLES)])

    result = sample_tail(draw, score, quantile, num_samples, settings)
    return TailSample(wholes(result.noise), result.statistic, result.threshold, result.threshold_error,
                      result.evaluations + num_samples, result.chain_evaluations, result.effective_samples,
                      result.acceptance)
