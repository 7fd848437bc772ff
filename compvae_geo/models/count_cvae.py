"""The standard alternative to CompVAE: a conditional VAE on the vector of category counts."""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.distributions import Distribution, Normal, kl_divergence
from torch_geometric.data import Data
from torch_geometric.nn import MLP
from torch_geometric.utils import scatter

from compvae_geo.layers import resolve_batch

from ..codecs import get_codec
from ..validation import (
    as_float,
    as_multisets,
    check_num_samples,
    check_parts,
    check_whole_attr,
    check_wholes,
    check_wholes_have_parts,
)
from .conditions import condition_features
from .config import CompVAEConfig
from .gaussian import normal, normal_from_params, split_loc_scale
from .loss_terms import LossTerms
from .observations import build_observation, decoder_input_dim
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
    The observation models are CompVAE's (``per_part_decoder``, ``observation_jumps``): a per-part decoder reads the
    counts per part (the multiset's proportions, its mean descriptors) and 1/K, and the whole is K parts' law.
    """

    model_name = "count_cvae"

    def __init__(self, config: CompVAEConfig | None = None) -> None:
        super().__init__(config or CompVAEConfig())
        c = self.config
        if c.jumps_read_render:
            raise ValueError("the count CVAE renders no parts for its jumps to read: jumps_read_render must be False")
        parts_dim = c.num_categories * (1 + c.part_attr_dim)
        self.count_dim = parts_dim + c.condition_dim
        # a per-part decoder reads K too, after the counts, as the last column of what it reads per part
        self.decoder_latent = WithPartCount(c.z_dim, c.num_categories, parts_dim) if c.per_part_decoder \
            else nn.Identity()
        decoder_dim = decoder_input_dim(c, c.z_dim + self.count_dim + int(c.per_part_decoder))
        self.x_encoder, x_decoder = get_codec(c.observation).build(c.obs_shape, c.x_feature_dim, decoder_dim,
                                                                   c.hidden_dim)
        self.observation = build_observation(c, x_decoder, decoder_dim, slice(c.z_dim, c.z_dim + parts_dim + 1))
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
        return self.observation(self.decoder_latent(torch.cat([z, counts], dim=-1)))

    def loss(self, data: Data, noise: None = None) -> LossTerms[Tensor]:
        """L_w = 0, L_z = KL(q(z|x,c) || p(z|c)) (closed form), L_x: nats per whole."""
        wholes = check_wholes(data, self.config, self.dtype)
        if self.observation.sums_parts:
            check_wholes_have_parts(wholes)
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


class WithPartCount(nn.Module):
    """Inserts the number of parts K (the sum of the category counts) after the counts of ``[z, counts, conditions]``.

    Args:
        z_dim (int): the columns of z, first.
        num_categories (int): the count columns of the categories, which sum to K.
        parts_dim (int): all columns of the parts (their counts and their descriptors' sums per category).
    """

    def __init__(self, z_dim: int, num_categories: int, parts_dim: int) -> None:
        super().__init__()
        self.z_dim, self.num_categories, self.parts_dim = z_dim, num_categories, parts_dim

    def forward(self, latent: Tensor) -> Tensor:  # noqa: D102
        end = self.z_dim + self.parts_dim
        count = latent[:, self.z_dim:self.z_dim + self.num_categories].sum(-1, keepdim=True)
        return torch.cat([latent[:, :end], count, latent[:, end:]], -1)
