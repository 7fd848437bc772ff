r"""The priors of the global latent z, one per generative order of CompVAE.

:class:`WholeSumZPrior` is the paper's :math:`p(z \mid \tilde{w}, c)`: the parts' latents first, z given their sum.
:class:`MultisetZPrior` is :math:`p(z \mid \{l_i\}, c)`: z first, from the multiset itself, and the parts' latents
given z (``CompVAEConfig.z_first``). Each says which comes first with ``draws_first``, so that the model reads the
order from the module it was built with.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.distributions import Normal

from compvae_geo.layers import PartSum

from ..validation import Multisets
from .config import CompVAEConfig
from .gaussian import normal_from_params
from .part_embedding import PartEmbedding


class WholeSumZPrior(nn.Module):
    r""":math:`p(z \mid \tilde{w}, c) = \mathcal{N}(\mu, \mathrm{diag}\,\sigma^2)` of :math:`(\tilde{w}_{vec}, c)`.

    Reads the vector part of :math:`\tilde{w}` (its first ``whole_latent_dim`` columns, not the rendered sum) and
    the condition features c.

    Args:
        net (nn.Module): maps ``[B, input_dim(config) + condition_dim]`` to the mean and raw std ``[B, 2 z_dim]``.
        config (CompVAEConfig): uses ``whole_latent_dim`` and ``prior_scale_floor``.
    """

    draws_first = False  # z comes after the parts, from their sum

    def __init__(self, net: nn.Module, config: CompVAEConfig) -> None:
        super().__init__()
        self.net, self.whole_latent_dim, self.scale_floor = net, config.whole_latent_dim, config.prior_scale_floor

    @staticmethod
    def input_dim(config: CompVAEConfig) -> int:
        r"""What the network reads besides the conditions: the vector part of :math:`\tilde{w}`."""
        return config.whole_latent_dim

    def forward(self, multisets: Multisets, conditions: Tensor, w_tilde: Tensor | None = None) -> Normal:
        """The prior of z ``[B, z_dim]`` given ``w_tilde`` ``[B, *]`` and the condition features ``[B, C]``."""
        if w_tilde is None:
            raise ValueError("p(z | w~, c) needs w~: this model draws the parts' latents before z")
        return normal_from_params(self.net(torch.cat([w_tilde[:, : self.whole_latent_dim], conditions], -1)),
                                  self.scale_floor)

    def extra_repr(self) -> str:  # noqa: D102
        return f"whole_latent_dim={self.whole_latent_dim}"


class MultisetZPrior(nn.Module):
    r""":math:`p(z \mid \{l_i\}, c)`: z from a summary of the multiset, before the parts' latents.

    The summary of a whole is the mean of its parts' embeddings :math:`e'(l_i)` and :math:`1 / (K + 1)`; both stay
    bounded, so the prior stays in range for K beyond training (a sum grew with K, and z drawn from it went astray
    at 2-4x the training K: docs/experiments.md). Without ``z_prior_sees_count`` the mean alone: z of the same
    proportions of parts is the same for any K.

    Args:
        net (nn.Module): maps ``[B, input_dim(config) + condition_dim]`` to the mean and raw std ``[B, 2 z_dim]``.
        config (CompVAEConfig): uses ``num_categories``, ``part_attr_dim``, ``part_embed_dim`` (the size of the
            embedding :math:`e'(l)`, its own, not the part prior's), ``z_prior_sees_count`` and ``prior_scale_floor``.
    """

    draws_first = True  # z comes first, and the part prior reads it

    def __init__(self, net: nn.Module, config: CompVAEConfig) -> None:
        super().__init__()
        self.net, self.scale_floor, self.sees_count = net, config.prior_scale_floor, config.z_prior_sees_count
        self.embedding = PartEmbedding(config.num_categories, config.part_attr_dim, config.part_embed_dim)
        self.part_sum = PartSum()

    @staticmethod
    def input_dim(config: CompVAEConfig) -> int:
        """What the network reads besides the conditions: the summary of the multiset."""
        return config.part_embed_dim + int(config.z_prior_sees_count)

    def summary(self, multisets: Multisets) -> Tensor:
        """Each whole's mean part embedding and (``z_prior_sees_count``) :math:`1 / (K + 1)`, ``[B, *]``."""
        embedding = self.embedding(multisets.part, multisets.part_attr)
        counts = torch.bincount(multisets.batch, minlength=multisets.num_wholes).to(embedding.dtype).unsqueeze(-1)
        mean = self.part_sum(embedding, multisets.batch, dim_size=multisets.num_wholes) / counts.clamp(min=1)
        return torch.cat([mean, (counts + 1).reciprocal()], -1) if self.sees_count else mean

    def forward(self, multisets: Multisets, conditions: Tensor, w_tilde: Tensor | None = None) -> Normal:
        """The prior of z ``[B, z_dim]`` of each multiset given the condition features ``[B, C]`` (not ``w_tilde``)."""
        return normal_from_params(self.net(torch.cat([self.summary(multisets), conditions], -1)), self.scale_floor)
