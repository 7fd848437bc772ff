"""Independent Gaussians over the parts of each whole (the CompVAE prior prod_i p(w_i | l_i))."""
from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.distributions import constraints

from .part_distribution import PartDistribution


class PartNormal(PartDistribution):
    r"""Independent normals over ragged sets of parts, one set per whole.

    Independent normals :math:`\prod_i \mathcal{N}(w_i; \mu_i, \mathrm{diag}(\sigma_i^2))`
    over ragged sets of parts, one set per whole.

    The event of whole :math:`b` is the set of latents of its parts; :meth:`log_prob` returns
    one value per whole (the sum over its parts and coordinates). A whole with no parts has
    log-probability 0.

    Args:
        loc (Tensor): means :math:`(|V|, D)`.
        scale (Tensor): standard deviations :math:`(|V|, D)`, positive.
        batch (Tensor): whole of each part :math:`(|V|)`.
        num_wholes (int, optional): number of wholes :math:`|G|`. (default: ``max(batch) + 1``)
        validate_args (bool, optional): check the arguments (see :class:`PartDistribution`).
    """

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    has_rsample = True

    def __init__(
        self, loc: Tensor, scale: Tensor, batch: Tensor, num_wholes: int | None = None,
        validate_args: bool | None = None,
    ) -> None:
        self.loc, self.scale = torch.broadcast_tensors(loc, scale)
        super().__init__(batch, num_wholes, validate_args)

    @property
    def mean(self) -> Tensor:
        """The means :math:`(|V|, D)`."""
        return self.loc

    @property
    def variance(self) -> Tensor:
        """The variances :math:`(|V|, D)`."""
        return self.scale.pow(2)

    def rsample(self, sample_shape: torch.Size = torch.Size()) -> Tensor:
        """Draws ``sample_shape + (|V|, D)`` latents with the reparameterisation trick."""
        return self.loc + self.scale * self.standard_normal(sample_shape)

    def abduct(self, value: Tensor) -> tuple[Tensor, None]:
        r"""The standard-normal noise :math:`\epsilon = (w - \mu) / \sigma` that gives ``value`` :math:`(|V|, D)`.

        With :meth:`from_noise`, the latents of the same noise under other parameters (a counterfactual); the
        second element (shared factors) is None: these parts share none.
        """
        return (value - self.loc) / self.scale, None

    def from_noise(self, own: Tensor, shared: Tensor | None = None) -> Tensor:
        r"""The latents :math:`\mu + \sigma \epsilon` of the standard-normal noise ``own`` :math:`(|V|, D)`."""
        return self.loc + self.scale * own

    def log_prob(self, value: Tensor) -> Tensor:
        """Log-density per whole: ``value`` ``(..., |V|, D)`` gives ``(..., |G|)``."""
        self._validate_value(value)
        per_part = -0.5 * ((value - self.loc) / self.scale).pow(2) - self.scale.log() - 0.5 * math.log(2 * math.pi)
        return self.sum_per_whole(per_part.sum(-1))

    def entropy(self) -> Tensor:
        """Entropy per whole, :math:`(|G|)`."""
        per_part = 0.5 * math.log(2 * math.pi * math.e) + self.scale.log()
        return self.sum_per_whole(per_part.sum(-1))
