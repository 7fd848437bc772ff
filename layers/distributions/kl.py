"""The closed-form KL divergences between part distributions, registered in one place.

The closed-form KL divergences between part distributions, registered with
:func:`torch.distributions.kl_divergence` (one place, as ``torch.distributions.kl`` keeps them).
"""
from __future__ import annotations

from torch import Tensor
from torch.distributions import register_kl

from .correlated_part_normal import CorrelatedPartNormal
from .part_distribution import PartDistribution
from .part_group_diagonal_factor_normal import PartGroupDiagonalFactorNormal
from .part_normal import PartNormal


def _check_same_parts(q: PartDistribution, p: PartDistribution) -> None:
    """Raise ``ValueError`` unless ``q`` and ``p`` are over the same parts and wholes."""
    if q.loc.shape != p.loc.shape or q.num_wholes != p.num_wholes:
        raise ValueError(
            f"KL needs the same parts and wholes: q has {tuple(q.loc.shape)} over {q.num_wholes} wholes, "
            f"p has {tuple(p.loc.shape)} over {p.num_wholes} wholes"
        )



@register_kl(CorrelatedPartNormal, PartNormal)
def kl_correlated_part_normal_part_normal(q: CorrelatedPartNormal, p: PartNormal) -> Tensor:
    r"""Closed-form :math:`KL(q \,\|\, p)` per whole, :math:`(|G|)`, for the same parts.

    .. math::
        \tfrac12\sum_{i,d}\Big[\frac{\Sigma_{ii} + (\mu_i - m_i)^2}{\sigma_i^2} - 1
        + \log\sigma_i^2 - s_i\Big] - \sum_d \log\Big(1 - \sum_i\rho_i\Big)
    """
    _check_same_parts(q, p)
    prior_log_var = 2 * p.scale.log()
    per_part = 0.5 * ((q.variance + (q.loc - p.loc).pow(2)) / p.variance - 1 + prior_log_var - q.log_var)
    return q.sum_per_whole(per_part.sum(-1)) + q.log_normalizer.sum(-1)


@register_kl(CorrelatedPartNormal, PartGroupDiagonalFactorNormal)
def kl_correlated_part_normal_group_diagonal_factor(
    q: CorrelatedPartNormal, p: PartGroupDiagonalFactorNormal
) -> Tensor:
    r"""Closed-form :math:`KL(q \,\|\, p)` per whole, :math:`(|G|)`, for the same parts.

    Closed-form :math:`KL(q \,\|\, p)` per whole, :math:`(|G|)`, for the same parts, coordinate by
    coordinate with :math:`\Sigma_p^{-1} = \Lambda - \sum_g a_g a_g^\top / M_g` (Sherman-Morrison per
    group, :math:`\Lambda = \mathrm{diag}(\sigma^{-2})`, :math:`a_{gi} = b_i / \sigma_i^2` on group g):

    .. math::
        \tfrac12\Big[\mathrm{tr}(\Sigma_p^{-1}\Sigma_q) + \delta^\top \Sigma_p^{-1} \delta - KD
        + \log\det\Sigma_p - \log\det\Sigma_q\Big], \quad \delta = \mu_q - \mu_p,

    where :math:`a_g^\top \Sigma_q a_g = |v|^2 - 2 (\rho^\top v)(1^\top v) + K (\rho^\top v)^2`,
    :math:`v = S a_g`, :math:`S = \mathrm{diag}(e^{s/2})`, from q's sampling map.
    """
    _check_same_parts(q, p)
    precision = p.scale.pow(-2)
    loading_precision = p.loading * precision  # a, (|V|, D)
    v = (0.5 * q.log_var).exp() * loading_precision
    rho_v = p.groups.sum_per_group(q.rho * v, dim=0)
    ones_v = p.groups.sum_per_group(v, dim=0)
    parts_of_group_whole = q.num_parts().index_select(0, p.groups.whole).unsqueeze(-1)
    group_quadratic = (p.groups.sum_per_group(v.pow(2), dim=0) - 2 * rho_v * ones_v
                       + parts_of_group_whole * rho_v.pow(2))
    trace = (q.sum_per_whole((q.variance * precision).sum(-1))
             - p.groups.group_sum_per_whole((group_quadratic / p.group_precision).sum(-1)))
    delta = q.loc - p.loc
    mahalanobis = q.sum_per_whole((delta.pow(2) * precision).sum(-1)) - p.explained_by_groups(delta * loading_precision)
    dims = q.num_parts() * q.loc.size(-1)
    return 0.5 * (trace + mahalanobis - dims + p.log_det_covariance() - q.log_det_covariance())
