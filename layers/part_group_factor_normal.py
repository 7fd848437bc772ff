"""A Gaussian over the part latents of each whole in which parts of one group share a factor."""
from __future__ import annotations

import torch
from torch import Tensor
from torch.distributions import constraints

from .joint_part_normal import JointPartNormal
from .part_groups import PartGroups
from .part_multivariate_normal import PartMultivariateNormal


class PartGroupFactorNormal(JointPartNormal):
    r"""A Gaussian over the latents of the parts of each whole where the parts of one group
    (for instance the parts of a whole that share a category) share a latent factor:

    .. math::
        w_i = \mu_i + L_i \epsilon_i + B_i u_{g(i)}, \qquad
        \epsilon_i \sim \mathcal{N}(0, I_D), \quad u_g \sim \mathcal{N}(0, I_Q)

    so :math:`\mathrm{Cov}(w_i, w_j) = B_i B_j^\top` within a group, :math:`L_i L_i^\top + B_i B_i^\top`
    on the diagonal, and 0 across groups. With no loading (:math:`Q = 0`) it is the product of the
    parts' full-covariance Gaussians.

    Why: two equal parts of a whole are interchangeable, so a posterior over their latents may
    encode them alike (the sum of two sines of the same frequency is one sine); independent draws
    per part then miss how such parts vary together. The density uses the Woodbury identity and
    the matrix determinant lemma per group, :math:`M_g = I_Q + \sum_{i \in g} C_i^\top C_i` with
    :math:`C_i = L_i^{-1} B_i`, so it costs :math:`O(|V| D^2 Q + |groups| Q^3)`.

    :meth:`log_prob` and :meth:`entropy` return one value per whole, 0 for a whole with no parts.

    Args:
        loc (Tensor): means :math:`\mu` :math:`(|V|, D)`.
        scale_tril (Tensor): lower-triangular Cholesky factors :math:`L` :math:`(|V|, D, D)`
            with a positive diagonal.
        loading (Tensor): loadings :math:`B` of the shared factor :math:`(|V|, D, Q)`.
        group (Tensor): group of each part :math:`(|V|)`, numbered from 0; a group lies within
            one whole (see :func:`groups_of_equal_parts`).
        batch (Tensor): whole of each part :math:`(|V|)`.
        num_wholes (int, optional): number of wholes :math:`|G|`. (default: ``max(batch) + 1``)
    """

    arg_constraints = {"loc": constraints.real, "scale_tril": constraints.lower_cholesky}
    has_rsample = True

    def __init__(
        self, loc: Tensor, scale_tril: Tensor, loading: Tensor, group: Tensor, batch: Tensor,
        num_wholes: int | None = None,
    ) -> None:
        self.independent = PartMultivariateNormal(loc, scale_tril, batch, num_wholes)  # the L_i eps_i terms
        if loading.dim() != 3 or loading.shape[:2] != loc.shape:
            raise ValueError(f"need loading (|V|, D, Q) for loc {tuple(loc.shape)}; got {tuple(loading.shape)}")
        self.loc, self.scale_tril, self.loading, self.group = loc, scale_tril, loading, group
        super().__init__(batch, num_wholes)
        self.groups = PartGroups(group, batch, self.num_wholes)
        self._whitened_loading = None

    @property
    def factor_dim(self) -> int:
        """:math:`Q`, the size of each group's shared factor."""
        return self.loading.size(-1)

    @property
    def mean(self) -> Tensor:
        return self.loc

    @property
    def variance(self) -> Tensor:
        return self.independent.variance + self.loading.pow(2).sum(-1)

    def rsample(self, sample_shape: torch.Size = torch.Size()) -> Tensor:
        """Draws ``sample_shape + (|V|, D)`` latents."""
        sample_shape = torch.Size(sample_shape)
        factor = torch.randn(sample_shape + (self.groups.num_groups, self.factor_dim), dtype=self.loc.dtype,
                             device=self.loc.device)
        shared = (self.loading @ factor.index_select(-2, self.group).unsqueeze(-1)).squeeze(-1)
        return self.independent.rsample(sample_shape) + shared

    def _whitened(self) -> Tensor:
        r""":math:`C_i = L_i^{-1} B_i`, :math:`(|V|, D, Q)`."""
        if self._whitened_loading is None:
            self._whitened_loading = torch.linalg.solve_triangular(self.scale_tril, self.loading, upper=False)
        return self._whitened_loading

    def _group_cholesky(self) -> Tensor:
        r"""Cholesky factor of :math:`M_g = I_Q + \sum_{i \in g} C_i^\top C_i`, :math:`(|groups|, Q, Q)`."""
        whitened = self._whitened()
        gram = self.groups.sum_per_group(whitened.transpose(-1, -2) @ whitened, dim=0)
        eye = torch.eye(self.factor_dim, dtype=gram.dtype, device=gram.device)
        return torch.linalg.cholesky(gram + eye)

    def log_det_covariance(self) -> Tensor:
        r""":math:`\log\det\Sigma` of each whole's latents, :math:`(|G|)`."""
        half_log_det_parts = self.sum_per_whole(self.independent.half_log_det())
        group_log_det = self._group_cholesky().diagonal(dim1=-2, dim2=-1).log().sum(-1)
        per_whole = self.groups.group_sum_per_whole(group_log_det)
        return 2 * (half_log_det_parts + per_whole)

    def squared_mahalanobis(self, value: Tensor) -> Tensor:
        """Per whole: ``value`` ``(..., |V|, D)`` gives ``(..., |G|)``."""
        diff = (value - self.loc).unsqueeze(-1)
        scale_tril = self.scale_tril.expand(diff.shape[:-2] + self.scale_tril.shape[-2:])
        white = torch.linalg.solve_triangular(scale_tril, diff, upper=False)  # (..., |V|, D, 1)
        projected = (self._whitened().transpose(-1, -2) @ white).squeeze(-1)  # C_i^T y_i, (..., |V|, Q)
        per_group = self.groups.sum_per_group(projected, dim=-2)
        cholesky = self._group_cholesky().expand(per_group.shape[:-1] + (self.factor_dim,) * 2)
        solved = torch.linalg.solve_triangular(cholesky, per_group.unsqueeze(-1), upper=False).squeeze(-1)
        explained = self.groups.group_sum_per_whole(solved.pow(2).sum(-1))
        return self.sum_per_whole(white.squeeze(-1).pow(2).sum(-1)) - explained
