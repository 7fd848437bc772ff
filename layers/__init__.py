"""Reusable PyG building blocks of CompVAE, usable in any set-structured model."""
from .correlated_part_normal import CorrelatedPartNormal
from .joint_part_normal import JointPartNormal
from .part_distribution import PartDistribution
from .part_group_diagonal_factor_normal import PartGroupDiagonalFactorNormal
from .part_group_factor_normal import PartGroupFactorNormal
from .part_groups import PartGroups, groups_of_equal_parts
from .part_mixture_normal import PartMixtureNormal
from .part_multivariate_normal import PartMultivariateNormal
from .part_normal import PartNormal
from .part_sum import PartSum
from .part_update_conv import PartUpdateConv
from .part_update_stack import PartUpdateStack

__all__ = [
    "CorrelatedPartNormal",
    "JointPartNormal",
    "PartDistribution",
    "PartGroupDiagonalFactorNormal",
    "PartGroupFactorNormal",
    "PartGroups",
    "PartMixtureNormal",
    "PartMultivariateNormal",
    "PartNormal",
    "PartSum",
    "PartUpdateConv",
    "PartUpdateStack",
    "groups_of_equal_parts",
]
