"""The Compositional Variational Auto-Encoder (Berger & Sebag), on PyG batches of wholes."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.distributions import Normal, kl_divergence
from torch_geometric.data import Data
from torch_geometric.nn import MLP

from compvae_geo.layers import (
    CorrelatedPartNormal,
    PartSum,
    PartUpdateStack,
    repeat_rows,
    resolve_batch,
)

from ..codecs import get_codec
from ..validation import (
    Wholes,
    as_float,
    as_multisets,
    check_num_samples,
    check_parts,
    check_whole_attr,
    check_wholes,
)
from .conditions import condition_features
from .config import CompVAEConfig
from .gaussian import floored_scale, normal, normal_from_params, split_loc_scale
from .loss_terms import LossTerms
from .part_embedding import PartEmbedding
from .part_prior import PartPrior
from .savable import SavableModel
from .structural import GENERATE_CHUNK_SAMPLES, StructuralMethods

GENERATE_CHUNK_PARTS = 1024  # parts rendered and summed at a time by generate (bounds its memory at large K)
def _rows(tensor: Tensor | None, start: int, end: int) -> Tensor | None:
    return None if tensor is None else tensor[start:end]


@dataclass
class LatentNoise:
    """The standard-normal draws of one pass through the model, to reuse them on purpose."""

    z: Tensor  # [B, z_dim] for z ~ q(z | x)
    node: Tensor  # [N, part_embed_dim] added (scaled) to e(l_i) in the node initialisation
    w: Tensor  # [N, w_dim] for {w_i} ~ q({w_i} | x, z, {l_i})

    @classmethod
    def sample(
        cls, config: CompVAEConfig, num_wholes: int, num_parts: int, device: torch.device | None = None
    ) -> LatentNoise:
        """Fresh draws for ``num_wholes`` wholes of ``num_parts`` parts in all."""
        return cls(
            z=torch.randn(num_wholes, config.z_dim, device=device),
            node=torch.randn(num_parts, config.part_embed_dim, device=device),
            w=torch.randn(num_parts, config.w_dim, device=device),
        )


@dataclass
class Posterior:
    """The approximate posterior of a batch of wholes."""

    z_dist: Normal  # q(z | x), [B, z_dim]
    z: Tensor  # a sample of it, [B, z_dim]
    w_dist: CorrelatedPartNormal  # q({w_i} | x, z, {l_i}) given that z, over [N, w_dim]


class CompVAE(StructuralMethods, SavableModel):
    r"""Learns :math:`p(x \mid \{l_i\})`, a whole x generated from a multiset of parts.

    Generative model (paper eq. 1):
    :math:`p(x, z, \{w_i\} \mid \{l_i\}) = p(x \mid z, \tilde{w})\, p(z \mid \tilde{w}) \prod_i p(w_i \mid l_i)`,
    :math:`\tilde{w} = \sum_i w_i`. Inference: :math:`q(z \mid x)`, then the correlated Gaussian
    :math:`q(\{w_i\} \mid x, z, \{l_i\})` from a stack of :class:`PartUpdateConv` over the parts
    of each whole. Batches are PyG disjoint unions: wholes of different K share a batch.

    Args:
        config (CompVAEConfig): sizes and constants. (default: the 1D sine problem)
    """

    model_name = "compvae"

    def __init__(self, config: CompVAEConfig | None = None) -> None:
        super().__init__(config or CompVAEConfig())
        c = self.config
        codec = get_codec(c.observation)
        self.x_encoder, self.x_decoder = codec.build(
            c.obs_shape, c.x_feature_dim, c.z_dim + c.whole_latent_dim + c.condition_dim, c.hidden_dim,
            c.render_channels, c.render_hidden_dim)
        self.z_posterior = MLP([c.x_feature_dim + c.condition_dim, c.hidden_dim, 2 * c.z_dim], norm=None)
        self.node_embedding = PartEmbedding(c.num_categories, c.part_attr_dim, c.part_embed_dim)
        self.node_gate = nn.Linear(c.part_embed_dim, c.x_feature_dim) if c.gated_node_features else None
        gated_dim = c.x_feature_dim if c.gated_node_features else 0
        node_dims = [c.x_feature_dim + c.z_dim + c.part_embed_dim + gated_dim] + [c.hidden_dim] * c.num_update_layers
        self.part_updates = PartUpdateStack(node_dims)
        self.w_posterior = nn.Linear(node_dims[-1], 3 * c.w_dim)  # mean, log-variance, correlation logit
        self.part_prior = PartPrior(c, build_context=False)  # its context layers come last (below)
        self.z_prior = MLP([c.z_prior_input_dim + c.condition_dim, c.hidden_dim, 2 * c.z_dim], norm=None)
        self.part_sum = PartSum()
        self.render_embedding, self.part_renderer = None, None
        if c.render_channels:
            self.render_embedding = PartEmbedding(c.num_categories, c.part_attr_dim, c.part_embed_dim)
            self.part_renderer = codec.build_renderer(c.obs_shape, c.w_dim + c.part_embed_dim,
                                                      c.render_hidden_dim, c.render_channels)
        # z_first: p(z | {l_i}, c) reads a mean of the parts' own embeddings (built last, like the context layers)
        self.multiset_embedding = PartEmbedding(c.num_categories, c.part_attr_dim, c.part_embed_dim) \
            if c.z_first else None
        self.part_prior.build_context()  # last: the rest starts the same with or without it

    # ----- the distributions of the model -----------------------------------------------------

    def sum_parts(
        self,
        w: Tensor,
        batch: Tensor | None = None,
        num_wholes: int | None = None,
        part: Tensor | None = None,
        part_attr: Tensor | None = None,
    ) -> Tensor:
        r""":math:`\tilde{w}` of each whole from part latents ``w`` ``[N, w_dim]``.

        The sum over its parts of :math:`w_i`, with ``count_channel`` of a constant 1 (the number of parts K), and with
        ``render_channels`` of the rendering :math:`r(w_i, l_i)` of each part on the whole's grid (flattened), which
        needs the parts' categories ``part`` ``[N]`` (and ``part_attr``). ``[B, whole_latent_dim (+ rendered size)]``;
        with no ``batch``, all parts form one whole. Pass any subset of parts to recompose.
        """
        batch, num_wholes = resolve_batch(batch, w.size(0), w.device, num_wholes)
        if self.part_renderer is not None and part is None:
            raise ValueError("this model renders its parts (render_channels > 0): pass their categories "
                             "(and part_attr) to sum_parts")
        per_part = torch.cat([w, w.new_ones(w.size(0), 1)], -1) if self.config.count_channel else w
        w_tilde = self.part_sum(per_part, batch, dim_size=num_wholes)
        if self.part_renderer is None:
            return w_tilde
        features = torch.cat([w, self.render_embedding(part, part_attr)], dim=-1)
        rendered = self.part_renderer.render_sum(features, batch, num_wholes)
        return torch.cat([w_tilde, rendered.flatten(1)], -1)

    def split_whole_latent(self, w_tilde: Tensor) -> tuple[Tensor, Tensor | None]:
        r"""Splits :math:`\tilde{w}` into its vector part and its rendered sum.

        The vector part ``[B, whole_latent_dim]`` of :math:`\tilde{w}` and its rendered sum
        ``[B, render_channels, *grid]`` (None without ``render_channels``).
        """
        vector = w_tilde[:, : self.config.whole_latent_dim]
        if self.part_renderer is None:
            return vector, None
        rendered = w_tilde[:, self.config.whole_latent_dim:]
        return vector, rendered.reshape(w_tilde.size(0), self.config.render_channels, *self.part_renderer.grid_shape)

    def conditions(self, whole_attr: Tensor | None, like: Tensor) -> Tensor:
        """The condition features ``[B, condition_dim]`` of ``whole_attr`` (see :func:`condition_features`)."""
        whole_attr = check_whole_attr(whole_attr, like.size(0), self.config.whole_attr_dim)
        return condition_features(whole_attr, like.size(0), self.config, like)

    def multiset_summary(
        self, part: Tensor, part_attr: Tensor | None = None, batch: Tensor | None = None, num_wholes: int | None = None
    ) -> Tensor:
        """What p(z | {l_i}, c) reads with ``z_first``: the mean of the parts' embeddings, and 1 / (K + 1).

        ``[num_wholes, part_embed_dim + 1]`` for parts ``[N]`` grouped by ``batch`` (default: one whole).
        Both are bounded, so the prior stays in range for K beyond training (a sum grew with K, and z drawn
        from it went astray at 2-4x the training K: docs/experiments.md).
        """
        if self.multiset_embedding is None:
            raise ValueError("only a z_first model reads a multiset summary (this one reads w~)")
        batch, num_wholes = resolve_batch(batch, part.numel(), part.device, num_wholes)
        embedding = self.multiset_embedding(part, part_attr)
        counts = torch.bincount(batch, minlength=num_wholes).to(embedding.dtype).unsqueeze(-1)
        mean = self.part_sum(embedding, batch, dim_size=num_wholes) / counts.clamp(min=1)
        return torch.cat([mean, (counts + 1).reciprocal()], -1)

    def z_prior_dist(self, context: Tensor, whole_attr: Tensor | None = None) -> Normal:
        r""":math:`p(z \mid \tilde{w}, c)` over ``[B, z_dim]``, or with ``z_first`` :math:`p(z \mid \{l_i\}, c)`.

        ``context`` is :math:`\tilde{w}` (its vector part is read), or with ``z_first`` the
        :meth:`multiset_summary`; ``whole_attr`` the conditions (``[B, whole_attr_dim]`` or one row for all;
        None: unknown).
        """
        return self._z_prior_dist(context, self.conditions(whole_attr, context))

    def _z_prior_dist(self, context: Tensor, conditions: Tensor) -> Normal:
        """:meth:`z_prior_dist` from condition features already built (``[B, condition_dim]``)."""
        source = context if self.config.z_first else self.split_whole_latent(context)[0]
        return normal_from_params(self.z_prior(torch.cat([source, conditions], -1)), self.config.prior_scale_floor)

    def decode(self, w_tilde: Tensor, z: Tensor | None = None, whole_attr: Tensor | None = None) -> Normal:
        r""":math:`p(x \mid z, \tilde{w}, c)` over ``[B, *obs_shape]``.

        With no ``z``, one is drawn from :math:`p(z \mid \tilde{w}, c)` (a ``z_first`` model needs its ``z``,
        e.g. from :meth:`draw_prior`); ``whole_attr`` are the conditions
        :math:`c` (``[B, whole_attr_dim]`` or one row for all; None: unknown). Build ``w_tilde`` with
        :meth:`sum_parts` from any subset of part latents to recompose a whole from chosen parts.
        """
        return self._decode(w_tilde, z, self.conditions(whole_attr, w_tilde))

    def _decode(self, w_tilde: Tensor, z: Tensor | None, conditions: Tensor) -> Normal:
        """:meth:`decode` from condition features already built (``[B, condition_dim]``)."""
        if z is None:
            if self.config.z_first:
                raise ValueError("a z_first model draws z from the multiset: pass z (see draw_prior)")
            z = self._z_prior_dist(w_tilde, conditions).rsample()
        vector, rendered = self.split_whole_latent(w_tilde)
        latent = torch.cat([z, vector, conditions], dim=-1)
        loc, raw_scale = self.x_decoder(latent, rendered)
        return normal(loc, floored_scale(raw_scale, self.config.observation_scale_floor).expand_as(loc))

    def encode(self, data: Data, noise: LatentNoise | None = None) -> Posterior:
        r"""The posterior of a ``Data``/``Batch`` of wholes.

        :math:`q(z \mid x, c)` (c: the batch's ``whole_attr``, with ``whole_attr_dim``), a sample of z, and
        :math:`q(\{w_i\} \mid x, z, \{l_i\})`.
        """
        return self._posterior(check_wholes(data, self.config, self.dtype), noise)

    def _posterior(self, wholes: Wholes, noise: LatentNoise | None) -> Posterior:
        c = self.config
        if noise is None:
            noise = LatentNoise.sample(c, wholes.num_wholes, wholes.part.numel(), wholes.whole.device)
        features = self.x_encoder(wholes.whole)
        conditions = condition_features(wholes.whole_attr, wholes.num_wholes, c, features)
        z_loc, z_scale = split_loc_scale(self.z_posterior(torch.cat([features, conditions], -1)),
                                         c.posterior_scale_floor)
        z = z_loc + z_scale * noise.z
        node_part = self.node_embedding(wholes.part, wholes.part_attr) + c.node_noise_std * noise.node
        h = [node_part]
        if self.node_gate is not None:
            h.append(features.index_select(0, wholes.batch) * self.node_gate(node_part))
        # each part's state is [pre(x), z, e(l_i), gate]; what its whole shares goes in once per whole
        context = torch.cat([features, z], -1)
        h = self.part_updates(torch.cat(h, dim=-1), wholes.batch, wholes.num_wholes, context=context)
        loc, log_var, logit = self.w_posterior(h).chunk(3, dim=-1)
        w_dist = CorrelatedPartNormal(loc, log_var, logit, wholes.batch, wholes.num_wholes, validate_args=False)
        return Posterior(normal(z_loc, z_scale), z, w_dist)

    # ----- training objective -----------------------------------------------------------------

    def loss(self, data: Data, noise: LatentNoise | None = None) -> LossTerms[Tensor]:
        """L_w, L_z and L_x (paper eq. 4, one-sample estimate) of each whole, in nats.

        Args:
            data: a ``Data`` or ``Batch`` with ``part`` [N], ``whole`` [B, *obs_shape] and,
                for several wholes, ``batch`` [N]; ``part_attr`` [N, F] if the parts have it.
            noise: standard-normal draws to use instead of fresh ones (common random numbers).

        Returns:
            The three terms, each ``[B]``. L_w is in closed form (the KL of the correlated
            posterior to the part prior, registered in :mod:`compvae_geo.layers.distributions.kl`).
        """
        wholes = check_wholes(data, self.config, self.dtype)
        if noise is None:
            noise = LatentNoise.sample(self.config, wholes.num_wholes, wholes.part.numel(), wholes.whole.device)
        posterior = self._posterior(wholes, noise)
        w = posterior.w_dist.reparameterize(noise.w)
        w_tilde = self.sum_parts(w, wholes.batch, wholes.num_wholes, wholes.part, wholes.part_attr)
        # wholes.whole_attr is checked already: build its features once for the priors and p(x | z, w~, c)
        conditions = condition_features(wholes.whole_attr, wholes.num_wholes, self.config, w_tilde)
        z_first = self.config.z_first
        prior = self.part_prior(wholes.part, wholes.part_attr, wholes.batch, wholes.num_wholes,
                                posterior.z if z_first else None)
        loss_w = kl_divergence(posterior.w_dist, prior)
        z_context = self.multiset_summary(wholes.part, wholes.part_attr, wholes.batch, wholes.num_wholes) \
            if z_first else w_tilde
        z_prior = self._z_prior_dist(z_context, conditions)
        loss_z = (posterior.z_dist.log_prob(posterior.z) - z_prior.log_prob(posterior.z)).sum(-1)
        loss_x = -self._decode(w_tilde, posterior.z, conditions).log_prob(wholes.whole).flatten(1).sum(-1)
        return LossTerms(w=loss_w, z=loss_z, x=loss_x)

    def forward(self, data: Data, noise: LatentNoise | None = None) -> LossTerms[Tensor]:
        """:meth:`loss`."""
        return self.loss(data, noise)

    # ----- generation -------------------------------------------------------------------------

    def prior_latents(
        self, parts: Tensor, num_samples: int = 1, part_attr: Tensor | None = None, whole_attr: Tensor | None = None
    ) -> Tensor:
        r"""Draws the latents of the K parts of one multiset from the part prior (:math:`p(w_i \mid l_i)` in the paper).

        ``[num_samples, K, w_dim]``. Sum any subset over dim 1 and :meth:`decode` it. A ``z_first`` model
        draws them given a z (from the conditions ``whole_attr``) and needs that z to decode them: use
        :meth:`draw_prior`.
        """
        return self.draw_prior(parts, num_samples, part_attr, whole_attr)[0]

    def draw_prior(
        self, parts: Tensor, num_samples: int = 1, part_attr: Tensor | None = None, whole_attr: Tensor | None = None
    ) -> tuple[Tensor, Tensor | None]:
        r"""The part latents ``[num_samples, K, w_dim]`` of one multiset, and z ``[num_samples, z_dim]`` (z_first).

        With ``z_first``, :math:`z \sim p(z \mid \{l_i\}, c)` (``whole_attr``: the conditions c, one row or
        one per sample; None: unknown) then :math:`w_i \sim p(w_i \mid l_i, z)`; otherwise
        :math:`w_i \sim p(w_i \mid l_i)` and z is None (drawn later, from :math:`p(z \mid \tilde{w}, c)`).
        """
        check_num_samples(num_samples)
        check_parts(parts, part_attr, self.config.num_categories, self.config.part_attr_dim)
        conditions = self.conditions(whole_attr, torch.empty(num_samples, 0, device=parts.device))
        if not self.config.z_first:  # the same prior for every sample
            return self.part_prior(parts, part_attr).sample((num_samples,)), None
        summary = self.multiset_summary(parts, part_attr).expand(num_samples, -1)
        z = self._z_prior_dist(summary, conditions).rsample()
        batch = torch.arange(num_samples, device=parts.device).repeat_interleave(parts.numel())
        repeated_attr = repeat_rows(part_attr, num_samples)
        prior = self.part_prior(parts.repeat(num_samples), repeated_attr, batch, num_samples, z)
        return prior.sample().reshape(num_samples, parts.numel(), self.config.w_dim), z

    @torch.no_grad()
    def generate(
        self,
        parts: Tensor | list[int] | list[Tensor],
        num_samples: int = 1,
        part_attr: Tensor | list[Tensor] | None = None,
        whole_attr: Tensor | None = None,
        observation_noise: bool = False,
    ) -> Tensor | list[Tensor]:
        r"""Wholes generated from a multiset of parts.

        :math:`w_i \sim p(w_i \mid l_i)` (the part prior), :math:`z \sim p(z \mid \tilde{w}, c)`, then the mean of
        :math:`p(x \mid z, \tilde{w}, c)` (or a draw from it with ``observation_noise=True``); with ``z_first``,
        z is drawn first and the parts given it (:meth:`draw_prior`).

        Args:
            parts: categories ``[K]`` of one multiset (K = 0 allowed; a list of ints is one multiset too), or a
                list of such tensors for several multisets.
            num_samples: wholes to draw per multiset.
            part_attr: continuous descriptors ``[K, F]`` (or a list), if the model uses them; float64 is converted.
            whole_attr: the known conditions :math:`c` ``[whole_attr_dim]`` (or one row per sample) of the
                wholes (households: ``HouseholdParts.conditions(...)``), if the model has any; None: unknown,
                drawn with z.
            observation_noise: add the observation model's Gaussian noise.

        Returns:
            ``[num_samples, *obs_shape]``, or a list of them for a list of multisets.
            Time is linear in K x ``num_samples``; memory too for the part latents (``w_dim`` floats each),
            while the parts are rendered and summed ``GENERATE_CHUNK_PARTS`` at a time and the wholes decoded
            ``GENERATE_CHUNK_SAMPLES`` at a time, which bounds the rest.
        """
        parts = as_multisets(parts)
        if isinstance(parts, list):
            attrs = part_attr if part_attr is not None else [None] * len(parts)
            if len(attrs) != len(parts):
                raise ValueError(f"{len(parts)} multisets but {len(attrs)} part_attr tensors")
            return [self.generate(p, num_samples, a, whole_attr, observation_noise)
                    for p, a in zip(parts, attrs, strict=True)]
        part_attr = as_float("part_attr", part_attr, self.dtype)
        w, z = self.draw_prior(parts, num_samples, part_attr, whole_attr)
        w = w.flatten(0, 1)  # [S K, w_dim]
        num_parts = parts.numel()
        batch = torch.arange(num_samples, device=w.device).repeat_interleave(num_parts)
        every_part = parts.repeat(num_samples)
        every_attr = repeat_rows(part_attr, num_samples)
        # whole by whole where a chunk holds whole wholes, so the sums are those of a single pass (K = 0: w~ = 0)
        chunk = num_parts * max(1, GENERATE_CHUNK_PARTS // num_parts) if 0 < num_parts <= GENERATE_CHUNK_PARTS \
            else GENERATE_CHUNK_PARTS
        w_tilde = self.sum_parts(w[:0], batch[:0], num_samples, every_part[:0], _rows(every_attr, 0, 0))
        for start in range(0, w.size(0), chunk):
            end = start + chunk
            w_tilde = w_tilde + self.sum_parts(w[start:end], batch[start:end], num_samples, every_part[start:end],
                                               _rows(every_attr, start, end))
        whole_attr = check_whole_attr(as_float("whole_attr", whole_attr, self.dtype), num_samples,
                                      self.config.whole_attr_dim)
        if z is None:
            z = self.z_prior_dist(w_tilde, whole_attr).rsample()
        wholes = []
        for start in range(0, num_samples, GENERATE_CHUNK_SAMPLES):
            end = start + GENERATE_CHUNK_SAMPLES
            x_dist = self.decode(w_tilde[start:end], z[start:end], _rows(whole_attr, start, end))
            wholes.append(x_dist.sample() if observation_noise else x_dist.mean)
        return torch.cat(wholes)

    def extra_repr(self) -> str:
        """The sizes shown by ``repr``."""
        c = self.config
        return f"obs_shape={c.obs_shape}, num_categories={c.num_categories}, w_dim={c.w_dim}, z_dim={c.z_dim}"

