r"""The observation model as a map of standard-normal noise, element by element (the structural view of x).

A whole is :math:`x = F^{-1}(\Phi(\epsilon_x))` for the observation's cdf F (for a Gaussian,
:math:`\mu + \sigma \epsilon_x`), and an observed whole's residual is :math:`\epsilon_x = \Phi^{-1}(F(x))`: fresh
standard-normal noise gives draws of the observation's law, and an observed whole's residual gives it back.
"""
from __future__ import annotations

import torch
from torch import Tensor
from torch.distributions import Distribution, Normal


def whole_from_noise(observation: Distribution, noise: Tensor) -> Tensor:
    """The whole that standard-normal ``noise`` (shaped like a draw) gives under ``observation``."""
    if isinstance(observation, Normal):
        return observation.loc + observation.scale * noise
    return observation.icdf(torch.special.ndtr(noise.double())).to(noise.dtype)


def noise_of_whole(observation: Distribution, whole: Tensor) -> Tensor:
    """The standard-normal residual of ``whole`` under ``observation`` (the inverse of :func:`whole_from_noise`)."""
    if isinstance(observation, Normal):
        return (whole - observation.loc) / observation.scale
    return torch.special.ndtri(observation.cdf(whole).double()).to(whole.dtype)
