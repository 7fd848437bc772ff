"""A Gaussian over the part latents of each whole in which the parts of one group share a factor per coordinate.

The cheap, O(|V| D) member of the group-factor family.
"""
from __future__ import annotations

import torch
from torch import Tensor
from torch.distributions import constraints

from .joint_part_normal import JointPartNormal
from .part_groups import PartGroups


class PartGroupDiagonalFactorNormal(JointPartNormal):
    r"""A Gaussian over the part latents of each whole where the parts of a group share a factor.

    A Gaussian over the latents of the parts of each whole where, coordinate by coordinate,
    the parts of one group (for instance the parts of a whole that share a category) share a factor:

    .. math::
        w_{id} = \mu_{id} + \sigma_{id}\,\epsilon_{id} + b_{id}\, u_{g(i)d}, \qquad
        \epsilon_{id}, u_{gd} \sim \mathcal{N}(0, 1)

    so :math:`\mathrm{Cov}(w_{id}, w_{jd}) = b_{id} b_{jd}` within a group, :math:`\sigma_{id}^2 + b_{id}^2`
    on the diagonal, and 0 across groups and across coordinates. With no loading (:math:`b = 0`)
    it is :class:`PartNormal`. It costs :math:`O(|V| D)`: per coordinate
    and group the covariance is a diagonal plus a rank-one term, inverted by Sherman-Morrison with
    :math:`M_{gd} = 1 + \sum_{i \in g} b_{id}^2 / \sigma_{id}^2`.

    Why: the parts of a whole that share a category are interchangeable, so a posterior may
    encode them alike, and independent draws per part then miss how they vary together. Trained
    as a CompVAE prior, the model can align its latent coordinates with the shared directions,
    and the KL from :class:`CorrelatedPartNormal` stays in closed form.

    :meth:`log_prob` and :meth:`entropy` return one value per whole, 0 for a whole with no parts.

    Args:
        loc (Tensor): means :math:`\mu` :math:`(|V|, D)`.
        scale (Tensor): standard deviations :math:`\sigma` of the own terms :math:`(|V|, D)`, positive.
        loading (Tensor): loadings :math:`b` of the shared factor :math:`(|V|, D)`.
        group (Tensor): group of each part :math:`(|V|)`, numbered from 0; a group lies within
            one whole (see :func:`groups_of_equal_parts`).
        batch (Tensor): whole of each part :math:`(|V|)`.
        num_wholes (int, optional): number of wholes :math:`|G|`. (default: ``max(batch) + 1``)
        validate_args (bool, optional): check the arguments (see :class:`PartDistribution`).
    """

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive, "loading": constraints.real}
    has_rsample = True

    def __init__(
        self, loc: Tensor, scale: Tensor, loading: Tensor, group: Tensor, batch: Tensor,
        num_wholes: int | None = None, validate_args: bool | None = None,
    ) -> None:
        if loc.dim() != 2 or scale.shape != loc.shape or loading.shape != loc.shape:
            raise ValueError(f"need loc, scale and loading (|V|, D); got {tuple(loc.shape)}, "
                             f"{tuple(scale.shape)} and {tuple(loading.shape)}")
        self.loc, self.scale, self.loading = loc, scale, loading
        super().__init__(batch, num_wholes, validate_args)
        self.groups = PartGroups(group, batch, self.num_wholes)
        self.group = group
        self.whitened_loading = loading / scale  # b / sigma
        # M_gd = 1 + sum_{i in g} b_id^2 / sigma_id^2, (groups, D)
        self.group_precision = 1 + self.groups.sum_per_group(self.whitened_loading.pow(2), dim=0)

    @property
    def mean(self) -> Tensor:
        r"""The means :math:`\mu` :math:`(|V|, D)`."""
        return self.loc

    @property
    def variance(self) -> Tensor:
        r"""Marginal variances :math:`\sigma^2 + b^2` :math:`(|V|, D)`."""
        return self.scale.pow(2) + self.loading.pow(2)

    def rsample(self, sample_shape: torch.Size = torch.Size()) -> Tensor:
        """Draws ``sample_shape + (|V|, D)`` latents with the reparameterisation trick."""
        sample_shape = torch.Size(sample_shape)
        factor = torch.randn(sample_shape + (self.groups.num_groups, self.loc.size(-1)), dtype=self.loc.dtype,
                             device=self.loc.device)
        return self.loc + self.scale * self.standard_normal(sample_shape) + self.loading * factor.index_select(
            -2, self.group)

    def abduct(self, value: Tensor) -> tuple[Tensor, Tensor]:
        r"""A draw of the standard-normal noises that give ``value`` :math:`(|V|, D)`: the own and the shared ones.

        The shared factors given the latents, :math:`u_{gd} \mid w \sim \mathcal{N}(m_{gd}, 1 / M_{gd})` with
        :math:`m_{gd} = \sum_{i \in g} b_{id} (w_{id} - \mu_{id}) / \sigma_{id}^2 \,/\, M_{gd}`, then each part's own
        :math:`\epsilon_{id} = (w_{id} - \mu_{id} - b_{id} u_{g(i)d}) / \sigma_{id}`: ``(own (|V|, D), shared
        (groups, D))``. :meth:`from_noise` maps them back to ``value``; a subset of the parts, with fresh noise for
        others, gives an exact draw of the others given that subset.
        """
        white = (value - self.loc) / self.scale
        mean = self.groups.sum_per_group(self.whitened_loading * white, dim=0) / self.group_precision
        shared = mean + torch.randn_like(mean) * self.group_precision.rsqrt()
        return white - self.whitened_loading * shared.index_select(0, self.group), shared

    def from_noise(self, own: Tensor, shared: Tensor) -> Tensor:
        r"""The latents :math:`\mu + \sigma \epsilon + b\, u_{g}` of the noises ``own`` :math:`(|V|, D)` and ``shared``.

        ``shared`` :math:`(\text{groups}, D)` holds one factor per group.
        """
        return self.loc + self.scale * own + self.loading * shared.index_select(0, self.group)

    def explained_by_groups(self, per_part: Tensor) -> Tensor:
        r"""What the shared factors take off a whitened square norm, per whole.

        :math:`\sum_{g, d} (\sum_{i \in g} a_{id})^2 / M_{gd}` per whole for ``per_part``
        :math:`a` ``(..., |V|, D)``: what the shared factors take off a whitened square norm.
        """
        per_group = self.groups.sum_per_group(per_part, dim=-2)
        return self.groups.group_sum_per_whole((per_group.pow(2) / self.group_precision).sum(-1))

    def log_det_covariance(self) -> Tensor:
        r""":math:`\log\det\Sigma` of each whole's latents, :math:`(|G|)`."""
        own = self.sum_per_whole(2 * self.scale.log().sum(-1))
        return own + self.groups.group_sum_per_whole(self.group_precision.log().sum(-1))

    def squared_mahalanobis(self, value: Tensor) -> Tensor:
        """Per whole: ``value`` ``(..., |V|, D)`` gives ``(..., |G|)``."""
        white = (value - self.loc) / self.scale
        return self.sum_per_whole(white.pow(2).sum(-1)) - self.explained_by_groups(white * self.whitened_loading)

