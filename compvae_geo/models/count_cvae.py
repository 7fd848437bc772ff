"""The standard alternative to CompVAE: a conditional VAE on the vector of category counts."""
from __future__ import annotations

import torch
from torch import Tensor
from torch.distributions import Distribution, Normal, kl_divergence
from torch_geometric.data import Data
from torch_geometric.nn import MLP
from torch_geometric.utils import scatter

from compvae_geo.layers import resolve_batch

from ..codecs import get_codec
from ..validation import as_float, as_multisets, check_num_samples, check_parts, check_whole_attr, check_wholes
from .conditions import condition_features
from .config import CompVAEConfig
from .gaussian import normal, normal_from_params, split_loc_scale
from .gaussian_observation import GaussianObservation
from .loss_terms import LossTerms
from .savable import SavableModel


class CountCVAE(SavableModel):
    r"""A CVAE conditioned on :math:`c`, the number of parts of each category.

    :math:`p(x \mid c) = \int p(x \mid z, c)\, p(z \mid c)\, dz`, :math:`q(z \mid x, c)`.

    It is order-invariant like CompVAE but has no per-part latents, so it cannot recompose a
    whole from chosen parts. Parts with continuous descriptors enter through their sum per
    category (households: the annual consumption and PV power of each archetype), and the known
    conditions of a whole (``whole_attr``) join :math:`c`. Same interface as
    :class:`~compvae_geo.CompVAE` (``loss``, ``generate``, ``save``/``load``); ``L_w`` is 0.
    Its latent z has ``z_dim`` coordinates (give it ``w_dim + z_dim`` for a fair comparison).
    """

    model_name = "count_cvae"

    def __init__(self, config: CompVAEConfig | None = None) -> None:
        super().__init__(config or CompVAEConfig())
        c = self.config
        self.count_dim = c.num_categories * (1 + c.part_attr_dim) + c.condition_dim
        self.x_encoder, x_decoder = get_codec(c.observation).build(
            c.obs_shape, c.x_feature_dim, c.z_dim + self.count_dim, c.hidden_dim
        )
        self.observation = GaussianObservation(x_decoder, c.observation_scale_floor)
        self.z_posterior = MLP([c.x_feature_dim + self.count_dim, c.hidden_dim, 2 * c.z_dim], norm=None)
        self.z_prior = MLP([self.count_dim, c.hidden_dim, 2 * c.z_dim], norm=None)

    def category_counts(
        self, part: Tensor, batch: Tensor, num_wholes: int, part_attr: Tensor | None = None,
        whole_attr: Tensor | None = None,
    ) -> Tensor:
        """The conditioning vector ``[B, count_dim]`` of each whole.

        How many parts of each category every whole has, the sum of their descriptors per category
        (with ``part_attr_dim``), and the condition features.
        """
        one_hot = torch.nn.functional.one_hot(part, self.config.num_categories).float()
        per_part = one_hot if part_attr is None else torch.cat(
            [one_hot, (one_hot[:, :, None] * part_attr[:, None, :]).flatten(1)], -1)
        counts = scatter(per_part, batch, dim=0, dim_size=num_wholes, reduce="sum")
        return torch.cat([counts, condition_features(whole_attr, num_wholes, self.config, counts)], -1)

    def z_prior_dist(self, counts: Tensor) -> Normal:
        r""":math:`p(z \mid c)` over ``[B, z_dim]`` from :meth:`category_counts` ``[B, count_dim]``."""
        return normal_from_params(self.z_prior(counts), self.config.prior_scale_floor)

    def decode(self, counts: Tensor, z: Tensor) -> Distribution:
        r""":math:`p(x \mid z, c)` over ``[B, *obs_shape]``."""
        return self.observation(torch.cat([z, counts], dim=-1))

    def loss(self, data: Data, noise: None = None) -> LossTerms[Tensor]:
        """L_w = 0, L_z = KL(q(z|x,c) || p(z|c)) (closed form), L_x: nats per whole."""
        wholes = check_wholes(data, self.config, self.dtype)
        counts = self.category_counts(wholes.part, wholes.batch, wholes.num_wholes, wholes.part_attr,
                                      wholes.whole_attr)
        features = torch.cat([self.x_encoder(wholes.whole), counts], dim=-1)
        z_loc, z_scale = split_loc_scale(self.z_posterior(features), self.config.posterior_scale_floor)
        z_dist = normal(z_loc, z_scale)
        z = z_dist.rsample()
        loss_z = kl_divergence(z_dist, self.z_prior_dist(counts)).sum(-1)
        loss_x = -self.decode(counts, z).log_prob(wholes.whole).flatten(1).sum(-1)
        return LossTerms(w=torch.zeros_like(loss_z), z=loss_z, x=loss_x)

    def forward(self, data: Data, noise: None = None) -> LossTerms[Tensor]:
        """:meth:`loss`."""
        return self.loss(data, noise)

    @torch.no_grad()
    def generate(self, parts: Tensor | list[int], num_samples: int = 1, part_attr: Tensor | None = None,
                 whole_attr: Tensor | None = None, observation_noise: bool | None = None) -> Tensor:
        """``[num_samples, *obs_shape]`` wholes for the multiset ``parts`` (a tensor ``[K]`` or a list of ints).

        z ~ p(z|c), then a draw of p(x|z,c) or its mean (``observation_noise``; None: as the data's wholes are,
        ``config.noisy_wholes``); ``whole_attr`` are the known conditions (None: unknown).
        """
        parts = as_multisets(self.part_ids(parts))
        whole_attr = self.encoded_conditions(whole_attr)
        if isinstance(parts, list):
            raise ValueError("CountCVAE.generate takes one multiset; call it once per multiset")
        part_attr = as_float("part_attr", self.encoded_descriptors(part_attr), self.dtype)
        whole_attr = as_float("whole_attr", whole_attr, self.dtype)
        check_num_samples(num_samples)
        check_parts(parts, part_attr, self.config.num_categories, self.config.part_attr_dim)
        whole_attr = check_whole_attr(whole_attr, 1, self.config.whole_attr_dim)
        counts = self.category_counts(parts, *resolve_batch(None, parts.numel(), parts.device), part_attr, whole_attr)
        counts = counts.expand(num_samples, -1)
        x_dist = self.decode(counts, self.z_prior_dist(counts).sample())
        return self.in_file_units(x_dist.sample() if self.draws_noise(observation_noise) else x_dist.mean)
