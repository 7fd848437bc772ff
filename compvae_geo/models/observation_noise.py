r"""The observation model as a map of standard-normal noise (the structural view of x).

A Gaussian's whole is :math:`x = \mu + \sigma \epsilon_x` and an observed whole's residual
:math:`\epsilon_x = (x - \mu) / \sigma`; another law maps its own noise (``from_noise``) and draws the noise behind an
observed whole from its posterior (``abduct``), e.g. :class:`~compvae_geo.models.jump_normal.BinomialJumpNormal`, two
noises per element. Fresh noise gives draws of the observation's law; an abducted noise gives the observed whole back.
"""
from __future__ import annotations

from torch import Tensor
from torch.distributions import Distribution, Normal


def whole_from_noise(observation: Distribution, noise: Tensor) -> Tensor:
    """The whole that standard-normal ``noise`` (shaped as the observation's noise) gives under ``observation``."""
    if isinstance(observation, Normal):
        return observation.loc + observation.scale * noise
    return observation.from_noise(noise)


def noise_of_whole(observation: Distribution, whole: Tensor) -> Tensor:
    """The standard-normal noise behind ``whole`` under ``observation`` (drawn from its posterior where not unique)."""
    if isinstance(observation, Normal):
        return (whole - observation.loc) / observation.scale
    return observation.abduct(whole)
