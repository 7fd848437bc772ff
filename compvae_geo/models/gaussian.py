"""Diagonal Gaussians whose parameters come out of a network."""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor
from torch.distributions import Normal


def floored_scale(raw: Tensor, floor: float) -> Tensor:
    """A standard deviation that is smooth in ``raw`` and never below ``floor``."""
    return floor + F.softplus(raw)


def split_loc_scale(params: Tensor, floor: float) -> tuple[Tensor, Tensor]:
    """Splits ``[..., 2D]`` network outputs into a mean and a floored std, each ``[..., D]``."""
    loc, raw = params.chunk(2, dim=-1)
    return loc, floored_scale(raw, floor)


def normal(loc: Tensor, scale: Tensor) -> Normal:
    """A diagonal Normal that does not validate its arguments.

    A non-finite network output must give a non-finite loss (which training skips and counts), not an exception.
    """
    return Normal(loc, scale, validate_args=False)


def normal_from_params(params: Tensor, floor: float) -> Normal:
    """A diagonal :class:`~torch.distributions.Normal` from ``[..., 2D]`` network outputs."""
    return normal(*split_loc_scale(params, floor))
