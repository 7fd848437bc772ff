"""Independent full-covariance Gaussians over the parts of each whole."""
from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.distributions import constraints

from .part_distribution import PartDistribution


class PartMultivariateNormal(PartDistribution):
    r"""Independent normals :math:`\prod_i \mathcal{N}(w_i; \mu_i, L_i L_i^\top)` over ragged
    sets of parts, one set per whole, each part with its own full covariance.

    The coordinates of a part latent are correlated (a sine's phase and amplitude bend the set
    of part latents into a curved, tilted cloud that a diagonal Gaussian covers badly).
    :meth:`log_prob` and :meth:`entropy` return one value per whole, 0 for a whole with no parts.

    Args:
        loc (Tensor): means :math:`\mu` :math:`(|V|, D)`.
        scale_tril (Tensor): lower-triangular Cholesky factors :math:`L` :math:`(|V|, D, D)`
            with a positive diagonal.
        batch (Tensor): whole of each part :math:`(|V|)`.
        num_wholes (int, optional): number of wholes :math:`|G|`. (default: ``max(batch) + 1``)
    """

    arg_constraints = {"loc": constraints.real, "scale_tril": constraints.lower_cholesky}
    has_rsample = True

    def __init__(self, loc: Tensor, scale_tril: Tensor, batch: Tensor, num_wholes: int | None = None) -> None:
        if loc.dim() != 2 or scale_tril.shape != loc.shape + loc.shape[-1:]:
            raise ValueError(
                f"need loc (|V|, D) and scale_tril (|V|, D, D); got {tuple(loc.shape)} and {tuple(scale_tril.shape)}"
            )
        self.loc, self.scale_tril = loc, scale_tril
        super().__init__(batch, num_wholes)

    @property
    def mean(self) -> Tensor:
        return self.loc

    @property
    def covariance_matrix(self) -> Tensor:
        """:math:`L_i L_i^\\top`, :math:`(|V|, D, D)`."""
        return self.scale_tril @ self.scale_tril.transpose(-1, -2)

    @property
    def variance(self) -> Tensor:
        return self.scale_tril.pow(2).sum(-1)

    def rsample(self, sample_shape: torch.Size = torch.Size()) -> Tensor:
        """Draws ``sample_shape + (|V|, D)`` latents :math:`\\mu_i + L_i \\epsilon_i`."""
        noise = self.standard_normal(sample_shape)
        return self.loc + (self.scale_tril @ noise.unsqueeze(-1)).squeeze(-1)

    def half_log_det(self) -> Tensor:
        r""":math:`\log\det L_i` of each part, :math:`(|V|)`."""
        return self.scale_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1)  # (|V|)

    def log_prob(self, value: Tensor) -> Tensor:
        """Log-density per whole: ``value`` ``(..., |V|, D)`` gives ``(..., |G|)``."""
        diff = (value - self.loc).unsqueeze(-1)
        scale_tril = self.scale_tril.expand(diff.shape[:-2] + self.scale_tril.shape[-2:])
        white = torch.linalg.solve_triangular(scale_tril, diff, upper=False).squeeze(-1)
        dim = self.loc.size(-1)
        per_part = -0.5 * white.pow(2).sum(-1) - self.half_log_det() - 0.5 * dim * math.log(2 * math.pi)
        return self.sum_per_whole(per_part)

    def entropy(self) -> Tensor:
        dim = self.loc.size(-1)
        return self.sum_per_whole(0.5 * dim * math.log(2 * math.pi * math.e) + self.half_log_det())
