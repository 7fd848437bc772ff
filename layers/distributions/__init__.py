"""Distributions over the ragged sets of part latents of the wholes of a PyG batch."""
from . import kl  # noqa: F401  (registers the closed-form KL divergences)
from .correlated_part_normal import CorrelatedPartNormal
from .joint_part_normal import JointPartNormal
from .part_distribution import PartDistribution
from .part_group_diagonal_factor_normal import PartGroupDiagonalFactorNormal
from .part_groups import PartGroups, groups_of_equal_parts
from .part_normal import PartNormal

__all__ = [
    "CorrelatedPartNormal",
    "JointPartNormal",
    "PartDistribution",
    "PartGroupDiagonalFactorNormal",
    "PartGroups",
    "PartNormal",
    "groups_of_equal_parts",
]
