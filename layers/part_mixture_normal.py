"""Independent Gaussian mixtures over the parts of each whole (a richer CompVAE prior)."""
from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.distributions import constraints

from .part_distribution import PartDistribution


class PartMixtureNormal(PartDistribution):
    r"""Independent mixtures of diagonal normals over ragged sets of parts, one set per whole:

    .. math::
        p(\{w_i\}) = \prod_i \sum_{m=1}^{M} \pi_{im}\,
        \mathcal{N}\big(w_i; \mu_{im}, \mathrm{diag}(\sigma_{im}^2)\big),
        \qquad \pi_{i\cdot} = \mathrm{softmax}(a_{i\cdot})

    A single Gaussian cannot hold a curved or multi-modal set of part latents (a sine's phase
    and amplitude lie on an arc); a mixture can. :meth:`log_prob` returns one value per whole
    (a log-sum-exp over the components of each part, summed over the parts), 0 for a whole
    with no parts. Sampling picks a component per part, so it is not reparameterised: the KL
    from a posterior to this prior is estimated with the posterior's own samples.

    Args:
        logits (Tensor): component logits :math:`a` :math:`(|V|, M)`.
        loc (Tensor): component means :math:`\mu` :math:`(|V|, M, D)`.
        scale (Tensor): component standard deviations :math:`\sigma` :math:`(|V|, M, D)`, positive.
        batch (Tensor): whole of each part :math:`(|V|)`.
        num_wholes (int, optional): number of wholes :math:`|G|`. (default: ``max(batch) + 1``)
    """

    arg_constraints = {"logits": constraints.real, "loc": constraints.real, "scale": constraints.positive}
    has_rsample = False

    def __init__(
        self, logits: Tensor, loc: Tensor, scale: Tensor, batch: Tensor, num_wholes: int | None = None
    ) -> None:
        if loc.dim() != 3 or logits.shape != loc.shape[:2]:
            raise ValueError(
                f"need logits (|V|, M) and loc, scale (|V|, M, D); got {tuple(logits.shape)} and {tuple(loc.shape)}"
            )
        self.loc, self.scale = torch.broadcast_tensors(loc, scale)
        self.log_weights = torch.log_softmax(logits, dim=-1)
        super().__init__(batch, num_wholes)

    @property
    def weights(self) -> Tensor:
        r"""Mixture weights :math:`\pi` :math:`(|V|, M)`."""
        return self.log_weights.exp()

    @property
    def mean(self) -> Tensor:
        """Mean of each part's mixture, :math:`(|V|, D)`."""
        return (self.weights.unsqueeze(-1) * self.loc).sum(-2)

    @property
    def variance(self) -> Tensor:
        """Variance of each part's mixture per coordinate, :math:`(|V|, D)`."""
        second_moment = (self.weights.unsqueeze(-1) * (self.scale.pow(2) + self.loc.pow(2))).sum(-2)
        return second_moment - self.mean.pow(2)

    def part_log_prob(self, value: Tensor) -> Tensor:
        """Log-density of each part: ``value`` ``(..., |V|, D)`` gives ``(..., |V|)``."""
        z = (value.unsqueeze(-2) - self.loc) / self.scale  # (..., |V|, M, D)
        per_component = (-0.5 * z.pow(2) - self.scale.log()).sum(-1) - 0.5 * self.loc.size(-1) * math.log(2 * math.pi)
        return torch.logsumexp(self.log_weights + per_component, dim=-1)

    def log_prob(self, value: Tensor) -> Tensor:
        """Log-density per whole: ``value`` ``(..., |V|, D)`` gives ``(..., |G|)``."""
        return self.sum_per_whole(self.part_log_prob(value))

    @torch.no_grad()
    def sample(self, sample_shape: torch.Size = torch.Size()) -> Tensor:
        """Draws ``sample_shape + (|V|, D)`` latents: a component per part, then its normal."""
        shape = torch.Size(sample_shape)
        component = torch.multinomial(self.weights, math.prod(shape) or 1, replacement=True)  # (|V|, S)
        component = component.T.reshape(*shape, -1)  # (*sample_shape, |V|)
        index = component[..., None, None].expand(*component.shape, 1, self.loc.size(-1))
        loc = self.loc.expand(*shape, *self.loc.shape).gather(-2, index).squeeze(-2)
        scale = self.scale.expand(*shape, *self.scale.shape).gather(-2, index).squeeze(-2)
        return loc + scale * torch.randn_like(loc)
