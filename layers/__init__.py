"""Reusable PyG building blocks of CompVAE, usable in any set-structured model.

The message-passing layers (:class:`PartUpdateConv`, :class:`PartUpdateStack`,
:class:`PartSum`) live here; the distributions over part latents in
:mod:`compvae_geo.layers.distributions`, re-exported below. Nothing here imports the rest
of the package.
"""
from . import distributions
from .distributions import *  # noqa: F403  (the part distributions, listed in distributions.__all__)
from .part_sum import PartSum
from .part_update_conv import PartUpdateConv
from .part_update_stack import PartUpdateStack
from .wholes import check_batch, count_wholes, repeat_rows, resolve_batch

__all__ = [
    *distributions.__all__,
    "PartSum",
    "PartUpdateConv",
    "PartUpdateStack",
    "check_batch",
    "count_wholes",
    "repeat_rows",
    "resolve_batch",
]
