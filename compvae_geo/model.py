"""The Compositional Variational Auto-Encoder (Berger & Sebag), on PyG batches of wholes."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.distributions import Normal, kl_divergence
from torch_geometric.nn import MLP

from compvae_geo.layers import (CorrelatedPartNormal, PartGroupDiagonalFactorNormal, PartMixtureNormal,
                                PartMultivariateNormal, PartNormal, PartSum, PartUpdateStack, groups_of_equal_parts)

from .checkpoint import SavableModel
from .config import CompVAEConfig
from .fitted_prior import FittedPartPrior
from .gaussian import floored_scale, normal, normal_from_params, split_loc_scale
from .observation import build_codec, build_renderer
from .part_embedding import PartEmbedding
from .validation import Wholes, check_parts, check_wholes


@dataclass
class LossTerms:
    """The three terms of the loss (paper eq. 4), each ``[B]`` in nats per whole."""

    w: Tensor  # L_w = KL(q({w_i} | x, z, {l_i}) || prod_i p(w_i | l_i))
    z: Tensor  # L_z = log q(z | x) - log p(z | w~), at the sampled z
    x: Tensor  # L_x = -log p(x | z, w~)
    # -log p*({w_i} | {l_i}) of the fitted generation prior at the posterior's w, gradient stopped
    # at w: trains that prior only, and is not part of the ELBO (None without ``fitted_prior``)
    prior_fit: Tensor | None = None

    @property
    def elbo(self) -> Tensor:
        """The negative evidence lower bound L_w + L_z + L_x (to minimise), ``[B]``."""
        return self.w + self.z + self.x


@dataclass
class LatentNoise:
    """The standard-normal draws of one pass through the model, to reuse them on purpose."""

    z: Tensor  # [B, z_dim] for z ~ q(z | x)
    node: Tensor  # [N, part_embed_dim] added (scaled) to e(l_i) in the node initialisation
    w: Tensor  # [N, w_dim] for {w_i} ~ q({w_i} | x, z, {l_i})

    @classmethod
    def sample(cls, config: CompVAEConfig, num_wholes: int, num_parts: int, device=None) -> "LatentNoise":
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


class CompVAE(SavableModel):
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
        self.x_encoder, self.x_decoder = build_codec(
            c.observation, c.obs_shape, c.x_feature_dim, c.z_dim + c.whole_latent_dim, c.hidden_dim,
            c.render_channels, c.render_hidden_dim,
        )
        self.z_posterior = MLP([c.x_feature_dim, c.hidden_dim, 2 * c.z_dim], norm=None)
        self.node_embedding = PartEmbedding(c.num_categories, c.part_attr_dim, c.part_embed_dim)
        self.node_gate = nn.Linear(c.part_embed_dim, c.x_feature_dim) if c.gated_node_features else None
        gated_dim = c.x_feature_dim if c.gated_node_features else 0
        node_dims = [c.x_feature_dim + c.z_dim + c.part_embed_dim + gated_dim] + [c.hidden_dim] * c.num_update_layers
        self.part_updates = PartUpdateStack(node_dims)
        self.w_posterior = nn.Linear(node_dims[-1], 3 * c.w_dim)  # mean, log-variance, correlation logit
        self.prior_embedding = PartEmbedding(c.num_categories, c.part_attr_dim, c.part_embed_dim)
        self.prior_count = nn.Linear(1, c.part_embed_dim, bias=False) if c.prior_sees_count else None
        self.prior_group_size = nn.Linear(1, c.part_embed_dim, bias=False) if c.prior_group_factor else None
        # Per component: a mean and a std per coordinate, plus a mixture logit when there are several;
        # with prior_group_factor, one component with a loading of the shared factor per coordinate too.
        prior_outputs = 2 * c.w_dim if c.prior_components == 1 else c.prior_components * (2 * c.w_dim + 1)
        prior_outputs += c.w_dim * int(c.prior_group_factor)
        self.w_prior = MLP([c.part_embed_dim, c.hidden_dim, prior_outputs], norm=None)
        self.z_prior = MLP([c.whole_latent_dim, c.hidden_dim, 2 * c.z_dim], norm=None)
        self.part_sum = PartSum()
        self.render_embedding, self.part_renderer = None, None
        if c.render_channels:
            self.render_embedding = PartEmbedding(c.num_categories, c.part_attr_dim, c.part_embed_dim)
            self.part_renderer = build_renderer(c.observation, c.obs_shape, c.w_dim + c.part_embed_dim,
                                                c.render_hidden_dim, c.render_channels)
        # Built after the rest, so that with the same seed the rest of the model starts the same with or without them.
        self.prior_context = None
        if c.prior_context_layers:
            self.prior_context = PartUpdateStack([c.part_embed_dim] * (c.prior_context_layers + 1))
        self.fitted_prior = FittedPartPrior(c) if c.fitted_prior else None

    # ----- the distributions of the model -----------------------------------------------------

    def part_prior(
        self,
        part: Tensor,
        part_attr: Tensor | None = None,
        batch: Tensor | None = None,
        num_wholes: int | None = None,
    ) -> PartNormal | PartMixtureNormal | PartGroupDiagonalFactorNormal:
        r""":math:`\prod_i p(w_i \mid l_i)` over parts ``[N]`` grouped into wholes by ``batch``
        (default: one whole), or :math:`\prod_i p(w_i \mid l_i, K)` with ``prior_sees_count``:
        a :class:`PartNormal`, or with ``prior_components > 1`` a :class:`PartMixtureNormal`.
        With ``prior_group_factor``, :math:`p(\{w_i\} \mid \{l_i\})` is a
        :class:`PartGroupDiagonalFactorNormal` whose groups are the parts of a whole that share a
        category, and each part also reads :math:`1/m_i`, :math:`m_i` the size of its group.
        With ``prior_context_layers``, each part's parameters also depend on the rest of its whole,
        :math:`p(w_i \mid l_i, \{l_j\})`: its embedding passes through a residual
        :class:`PartUpdateStack` over the parts of the whole (permutation-equivariant, O(|V|)).
        Latents are ``[N, w_dim]``."""
        c = self.config
        if batch is None:
            batch, num_wholes = torch.zeros_like(part), 1
        embedding = self.prior_embedding(part, part_attr)
        if self.prior_count is not None:  # 1/K of each part's whole: bounded, so K beyond training stays in range
            counts = torch.bincount(batch, minlength=num_wholes).index_select(0, batch)
            embedding = embedding + self.prior_count(counts.to(embedding.dtype).reciprocal().unsqueeze(-1))
        if self.prior_group_size is not None:
            group, size = groups_of_equal_parts(part, batch)
            embedding = embedding + self.prior_group_size(size.to(embedding.dtype).reciprocal().unsqueeze(-1))
        if self.prior_context is not None:
            embedding = self.prior_context(embedding, batch, num_wholes)
        if self.prior_group_size is not None:
            params, loading = self.w_prior(embedding).split([2 * c.w_dim, c.w_dim], dim=-1)
            loc, scale = split_loc_scale(params, c.prior_scale_floor)
            return PartGroupDiagonalFactorNormal(loc, scale, loading, group, batch, num_wholes)
        params = self.w_prior(embedding)
        if c.prior_components == 1:
            return PartNormal(*split_loc_scale(params, c.prior_scale_floor), batch, num_wholes)
        logits, params = params.split([c.prior_components, c.prior_components * 2 * c.w_dim], dim=-1)
        loc, scale = split_loc_scale(params.unflatten(-1, (c.prior_components, 2 * c.w_dim)), c.prior_scale_floor)
        return PartMixtureNormal(logits, loc, scale, batch, num_wholes)

    def generation_prior(
        self, part: Tensor, part_attr: Tensor | None = None
    ) -> PartNormal | PartMixtureNormal | PartGroupDiagonalFactorNormal | PartMultivariateNormal:
        r"""The distribution :meth:`generate` draws the part latents of one multiset ``[K]`` from:
        the fitted :math:`p^*(w_i \mid l_i, \{l_j\})` with ``fitted_prior``, else :meth:`part_prior`."""
        batch = torch.zeros_like(part)
        if self.fitted_prior is not None:
            return self.fitted_prior(part, part_attr, batch, 1)
        return self.part_prior(part, part_attr, batch, 1)

    @staticmethod
    def part_kl(
        posterior: CorrelatedPartNormal, prior: PartNormal | PartMixtureNormal | PartGroupDiagonalFactorNormal, w: Tensor
    ) -> Tensor:
        r"""L_w per whole, ``[B]``: :math:`KL(q(\{w_i\}) \| p(\{w_i\} \mid \{l_i\}))` in closed form
        for a Gaussian prior; for a mixture, the one-sample estimate
        :math:`-H[q] - \log p(\{w_i\})` at ``w`` drawn from ``posterior`` (the entropy is exact)."""
        if isinstance(prior, (PartNormal, PartGroupDiagonalFactorNormal)):
            return kl_divergence(posterior, prior)
        return -posterior.entropy() - prior.log_prob(w)

    def sum_parts(
        self,
        w: Tensor,
        batch: Tensor | None = None,
        num_wholes: int | None = None,
        part: Tensor | None = None,
        part_attr: Tensor | None = None,
    ) -> Tensor:
        r""":math:`\tilde{w}` of each whole from part latents ``w`` ``[N, w_dim]``: the sum over its parts
        of :math:`w_i`, with ``count_channel`` of a constant 1 (the number of parts K), and with
        ``render_channels`` of the rendering :math:`r(w_i, l_i)` of each part on the whole's grid
        (flattened), which needs the parts' categories ``part`` ``[N]`` (and ``part_attr``).
        ``[B, whole_latent_dim (+ rendered size)]``; with no ``batch``, all parts form one whole.
        Pass any subset of parts to recompose."""
        if batch is None:
            batch = torch.zeros(w.size(0), dtype=torch.long, device=w.device)
            num_wholes = 1
        per_part = [w]
        if self.config.count_channel:
            per_part.append(w.new_ones(w.size(0), 1))
        if self.part_renderer is not None:
            if part is None:
                raise ValueError("this model renders its parts (render_channels > 0): pass their categories "
                                 "(and part_attr) to sum_parts")
            features = torch.cat([w, self.render_embedding(part, part_attr)], dim=-1)
            per_part.append(self.part_renderer(features).flatten(1))
        return self.part_sum(torch.cat(per_part, dim=-1), batch, dim_size=num_wholes)

    def split_whole_latent(self, w_tilde: Tensor) -> tuple[Tensor, Tensor | None]:
        r"""The vector part ``[B, whole_latent_dim]`` of :math:`\tilde{w}` and its rendered sum
        ``[B, render_channels, *grid]`` (None without ``render_channels``)."""
        vector = w_tilde[:, : self.config.whole_latent_dim]
        if self.part_renderer is None:
            return vector, None
        rendered = w_tilde[:, self.config.whole_latent_dim:]
        return vector, rendered.reshape(w_tilde.size(0), self.config.render_channels, *self.part_renderer.grid_shape)

    def z_prior_dist(self, w_tilde: Tensor) -> Normal:
        r""":math:`p(z \mid \tilde{w})` over ``[B, z_dim]``; it reads the vector part of :math:`\tilde{w}`."""
        vector, _ = self.split_whole_latent(w_tilde)
        return normal_from_params(self.z_prior(vector), self.config.prior_scale_floor)

    def decode(self, w_tilde: Tensor, z: Tensor | None = None) -> Normal:
        r""":math:`p(x \mid z, \tilde{w})` over ``[B, *obs_shape]``; with no ``z``, one is drawn
        from :math:`p(z \mid \tilde{w})`. Build ``w_tilde`` with :meth:`sum_parts` from any subset
        of part latents to recompose a whole from chosen parts."""
        if z is None:
            z = self.z_prior_dist(w_tilde).rsample()
        vector, rendered = self.split_whole_latent(w_tilde)
        loc, raw_scale = self.x_decoder(torch.cat([z, vector], dim=-1), rendered)
        return normal(loc, floored_scale(raw_scale, self.config.observation_scale_floor).expand_as(loc))

    def encode(self, data, noise: LatentNoise | None = None) -> Posterior:
        r"""The posterior of a ``Data``/``Batch`` of wholes: :math:`q(z \mid x)`, a sample of z,
        and :math:`q(\{w_i\} \mid x, z, \{l_i\})`."""
        return self._posterior(check_wholes(data, self.config), noise)

    def _posterior(self, wholes: Wholes, noise: LatentNoise | None) -> Posterior:
        c = self.config
        if noise is None:
            noise = LatentNoise.sample(c, wholes.num_wholes, wholes.part.numel(), wholes.whole.device)
        features = self.x_encoder(wholes.whole)
        z_loc, z_scale = split_loc_scale(self.z_posterior(features), c.posterior_scale_floor)
        z = z_loc + z_scale * noise.z
        node_part = self.node_embedding(wholes.part, wholes.part_attr) + c.node_noise_std * noise.node
        node_features = features.index_select(0, wholes.batch)
        h = [node_features, z.index_select(0, wholes.batch), node_part]
        if self.node_gate is not None:
            h.append(node_features * self.node_gate(node_part))
        h = torch.cat(h, dim=-1)
        h = self.part_updates(h, wholes.batch, wholes.num_wholes)  # residual: keeps x reachable at depth
        loc, log_var, logit = self.w_posterior(h).chunk(3, dim=-1)
        w_dist = CorrelatedPartNormal(loc, log_var, logit, wholes.batch, wholes.num_wholes)
        return Posterior(normal(z_loc, z_scale), z, w_dist)

    # ----- training objective -----------------------------------------------------------------

    def loss(self, data, noise: LatentNoise | None = None, with_prior_fit: bool = True) -> LossTerms:
        """L_w, L_z and L_x (paper eq. 4, one-sample estimate) of each whole, in nats.

        Args:
            data: a ``Data`` or ``Batch`` with ``part`` [N], ``whole`` [B, *obs_shape] and,
                for several wholes, ``batch`` [N]; ``part_attr`` [N, F] if the parts have it.
            noise: standard-normal draws to use instead of fresh ones (common random numbers).
            with_prior_fit: also the fitted prior's term (with ``fitted_prior``; else it is None).
        """
        wholes = check_wholes(data, self.config)
        if noise is None:
            noise = LatentNoise.sample(self.config, wholes.num_wholes, wholes.part.numel(), wholes.whole.device)
        posterior = self._posterior(wholes, noise)
        w = posterior.w_dist.reparameterize(noise.w)
        w_tilde = self.sum_parts(w, wholes.batch, wholes.num_wholes, wholes.part, wholes.part_attr)
        prior = self.part_prior(wholes.part, wholes.part_attr, wholes.batch, wholes.num_wholes)
        loss_w = self.part_kl(posterior.w_dist, prior, w)
        loss_z = (posterior.z_dist.log_prob(posterior.z) - self.z_prior_dist(w_tilde).log_prob(posterior.z)).sum(-1)
        loss_x = -self.decode(w_tilde, posterior.z).log_prob(wholes.whole).flatten(1).sum(-1)
        prior_fit = None
        if self.fitted_prior is not None and with_prior_fit:
            fitted = self.fitted_prior(wholes.part, wholes.part_attr, wholes.batch, wholes.num_wholes)
            prior_fit = -fitted.log_prob(w.detach())
        return LossTerms(w=loss_w, z=loss_z, x=loss_x, prior_fit=prior_fit)

    def prior_fit_loss(self, data) -> Tensor:
        r"""The fitted prior's term alone, ``[B]`` in nats: :math:`-\log p^*(\{w_i\} \mid \{l_i\})` at
        part latents drawn from the posterior, which is evaluated without gradient (a frozen
        model). What the steps after training minimise (``TrainConfig.prior_fit_steps``)."""
        if self.fitted_prior is None:
            raise ValueError("this model has no fitted prior (fitted_prior=False)")
        wholes = check_wholes(data, self.config)
        with torch.no_grad():
            w = self._posterior(wholes, None).w_dist.rsample()
        fitted = self.fitted_prior(wholes.part, wholes.part_attr, wholes.batch, wholes.num_wholes)
        return -fitted.log_prob(w)

    def forward(self, data, noise: LatentNoise | None = None) -> LossTerms:
        return self.loss(data, noise)

    # ----- generation -------------------------------------------------------------------------

    def prior_latents(self, parts: Tensor, num_samples: int = 1, part_attr: Tensor | None = None) -> Tensor:
        r"""Draws the latents of the K parts of one multiset from :meth:`generation_prior`
        (:math:`p(w_i \mid l_i)`, or the fitted prior): ``[num_samples, K, w_dim]``.
        Sum any subset over dim 1 and :meth:`decode` it."""
        if num_samples < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples}")
        check_parts(parts, part_attr, self.config)
        return self.generation_prior(parts, part_attr).sample((num_samples,))

    @torch.no_grad()
    def generate(
        self,
        parts: Tensor | list[Tensor],
        num_samples: int = 1,
        part_attr: Tensor | list[Tensor] | None = None,
        observation_noise: bool = False,
    ) -> Tensor | list[Tensor]:
        r"""Wholes generated from a multiset of parts: :math:`w_i \sim p(w_i \mid l_i)` (or the fitted
        :math:`p^*(w_i \mid l_i, \{l_j\})` with ``fitted_prior``),
        :math:`z \sim p(z \mid \tilde{w})`, then the mean of :math:`p(x \mid z, \tilde{w})`
        (or a draw from it with ``observation_noise=True``).

        Args:
            parts: categories ``[K]`` of one multiset (K = 0 allowed), or a list of them.
            num_samples: wholes to draw per multiset.
            part_attr: continuous descriptors ``[K, F]`` (or a list), if the model uses them.
            observation_noise: add the observation model's Gaussian noise.

        Returns:
            ``[num_samples, *obs_shape]``, or a list of them for a list of multisets.
            Memory and time are linear in K.
        """
        if isinstance(parts, (list, tuple)):
            attrs = part_attr if part_attr is not None else [None] * len(parts)
            if len(attrs) != len(parts):
                raise ValueError(f"{len(parts)} multisets but {len(attrs)} part_attr tensors")
            return [self.generate(p, num_samples, a, observation_noise) for p, a in zip(parts, attrs)]
        w = self.prior_latents(parts, num_samples, part_attr)  # [S, K, w_dim]
        batch = torch.arange(num_samples, device=w.device).repeat_interleave(parts.numel())
        repeated_attr = None if part_attr is None else part_attr.repeat(num_samples, 1)
        # w~ = 0 (and K = 0) for no parts
        w_tilde = self.sum_parts(w.flatten(0, 1), batch, num_samples, parts.repeat(num_samples), repeated_attr)
        x_dist = self.decode(w_tilde)
        return x_dist.sample() if observation_noise else x_dist.mean

    def extra_repr(self) -> str:
        c = self.config
        return f"obs_shape={c.obs_shape}, num_categories={c.num_categories}, w_dim={c.w_dim}, z_dim={c.z_dim}"

