r"""Where the latents of one pass through CompVAE's generative model come from.

The model draws its latents in one place (:meth:`CompVAE.latents`) in its generative order: z first or the parts
first (the z prior says which). What each latent is, given its prior, is the choice of a *source*:
:class:`PriorDraws` draws it from the prior (``generate``), :class:`FromNoise` maps given standard-normal noise
through the prior (``wholes_from_noise``: :math:`z = \mu_z + \sigma_z \eta`, :math:`w_i = \mu_i + \sigma_i \epsilon_i
(+\, b_i u_g)`), :class:`Given` takes latents drawn elsewhere, from the posterior (``loss``, abduction).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from torch import Tensor
from torch.distributions import Distribution, Normal


@dataclass
class GenerationNoise:
    """The standard-normal draws behind wholes generated from one multiset (:meth:`CompVAE.wholes_from_noise`)."""

    z: Tensor  # [S, z_dim]: the noise of z (z = mu_z + sigma_z * this)
    own: Tensor  # [S, K, w_dim]: each part's own noise in the part prior
    shared: Tensor | None  # [S, G, w_dim]: each category's shared factor (group-factor prior; G categories), or None
    x: Tensor | None  # [S, *observation.noise_shape(obs_shape)]: the observation noise, or None for the means

    def as_list(self) -> list[Tensor]:
        """The tensors that are set, in a fixed order (what a noise-space sampler moves)."""
        return [t for t in (self.z, self.own, self.shared, self.x) if t is not None]

    def like(self, tensors: list[Tensor]) -> GenerationNoise:
        """Noise of the same layout from ``tensors`` in :meth:`as_list` order."""
        items = iter(tensors)
        return GenerationNoise(*(None if t is None else next(items) for t in (self.z, self.own, self.shared, self.x)))


@dataclass
class Latents:
    """The latents of a batch of wholes, with the priors they were drawn under."""

    z: Tensor  # [B, z_dim]
    w: Tensor  # [N, w_dim] the part latents
    w_tilde: Tensor  # [B, whole_latent_dim (+ rendered size)] their sum
    z_prior: Normal  # p(z | w~, c) or p(z | {l_i}, c)
    part_prior: Distribution  # p({w_i} | {l_i}) (given z where z comes first)


class LatentSource(Protocol):
    """What a latent is, given the prior it has in the generative model."""

    def z(self, prior: Normal) -> Tensor:
        """Z ``[B, z_dim]`` under ``prior``."""

    def parts(self, prior: Distribution) -> Tensor:
        """The part latents ``[N, w_dim]`` under ``prior`` (a part distribution)."""


class PriorDraws:
    """Latents drawn from their priors."""

    def z(self, prior: Normal) -> Tensor:  # noqa: D102
        return prior.rsample()

    def parts(self, prior: Distribution) -> Tensor:  # noqa: D102
        return prior.sample()


@dataclass
class FromNoise:
    """Latents that given standard-normal noise becomes under their priors (the model as a structural one)."""

    noise: GenerationNoise

    def z(self, prior: Normal) -> Tensor:  # noqa: D102
        return prior.loc + prior.scale * self.noise.z

    def parts(self, prior: Distribution) -> Tensor:  # noqa: D102
        shared = None if self.noise.shared is None else self.noise.shared.flatten(0, 1)
        return prior.from_noise(self.noise.own.flatten(0, 1), shared)


@dataclass
class Given:
    """Latents drawn elsewhere (from the posterior): the priors are only evaluated."""

    given_z: Tensor  # [B, z_dim]
    given_w: Tensor  # [N, w_dim]

    def z(self, prior: Normal) -> Tensor:  # noqa: D102
        return self.given_z

    def parts(self, prior: Distribution) -> Tensor:  # noqa: D102
        return self.given_w
