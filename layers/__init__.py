"""Reusable PyG building blocks of CompVAE, usable in any set-structured model.

The message-passing layers (:class:`PartUpdateConv`, :class:`PartUpdateStack`,
:class:`PartSum`) live here; the distributions over part latents in
:mod:`compvae_geo.layers.distributions`, re-exported below. Nothing here imports the rest
of the package.
"""
from .distributions import (
    CorrelatedPartNormal,
    JointPartNormal,
    PartDistribution,
    PartGroupDiagonalFactorNormal,
    PartGroups,
    PartNormal,
    groups_of_equal_parts,
)
from .part_sum import PartSum
from .part_update_conv import PartUpdateConv
from .part_update_stack import PartUpdateStack
from .wholes import check_batch, count_wholes, resolve_batch

__all__ = [
    "CorrelatedPartNormal",
    "JointPartNormal",
    "PartDistribution",
    "PartGroupDiagonalFactorNormal",
    "PartGroups",
    "PartNormal",
    "PartSum",
    "PartUpdateConv",
    "PartUpdateStack",
    "check_batch",
    "count_wholes",
    "groups_of_equal_parts",
    "resolve_batch",
]
