"""Independent Gaussians over the parts of each whole (the CompVAE prior prod_i p(w_i | l_i))."""
from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.distributions import Distribution, constraints
from torch_geometric.utils import scatter

from ._wholes import count_wholes


class PartNormal(Distribution):
    r"""Independent normals :math:`\prod_i \mathcal{N}(w_i; \mu_i, \mathrm{diag}(\sigma_i^2))`
    over ragged sets of parts, one set per whole.

    The event of whole :math:`b` is the set of latents of its parts; :meth:`log_prob` returns
    one value per whole (the sum over its parts and coordinates). A whole with no parts has
    log-probability 0.

    Args:
        loc (Tensor): means :math:`(|V|, D)`.
        scale (Tensor): standard deviations :math:`(|V|, D)`, positive.
        batch (Tensor): whole of each part :math:`(|V|)`.
        num_wholes (int, optional): number of wholes :math:`|G|`. (default: ``max(batch) + 1``)
    """

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.real
    has_rsample = True

    def __init__(self, loc: Tensor, scale: Tensor, batch: Tensor, num_wholes: int | None = None) -> None:
        self.loc, self.scale = torch.broadcast_tensors(loc, scale)
        self.batch = batch
        self.num_wholes = count_wholes(batch, num_wholes)
        super().__init__(batch_shape=torch.Size([self.num_wholes]), validate_args=False)

    @property
    def mean(self) -> Tensor:
        return self.loc

    @property
    def variance(self) -> Tensor:
        return self.scale.pow(2)

    def rsample(self, sample_shape: torch.Size = torch.Size()) -> Tensor:
        """Draws ``sample_shape + (|V|, D)`` latents with the reparameterisation trick."""
        noise = torch.randn(torch.Size(sample_shape) + self.loc.shape, dtype=self.loc.dtype, device=self.loc.device)
        return self.loc + self.scale * noise

    def log_prob(self, value: Tensor) -> Tensor:
        """Log-density per whole: ``value`` ``(..., |V|, D)`` gives ``(..., |G|)``."""
        per_part = -0.5 * ((value - self.loc) / self.scale).pow(2) - self.scale.log() - 0.5 * math.log(2 * math.pi)
        return scatter(per_part.sum(-1), self.batch, dim=-1, dim_size=self.num_wholes, reduce="sum")

    def entropy(self) -> Tensor:
        per_part = 0.5 * math.log(2 * math.pi * math.e) + self.scale.log()
        return scatter(per_part.sum(-1), self.batch, dim=-1, dim_size=self.num_wholes, reduce="sum")
