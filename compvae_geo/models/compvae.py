"""The Compositional Variational Auto-Encoder (Berger & Sebag), on PyG batches of wholes."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.distributions import Distribution, Normal, kl_divergence
from torch_geometric.data import Data
from torch_geometric.nn import MLP

from compvae_geo.layers import CorrelatedPartNormal, PartSum, PartUpdateStack

from ..codecs import get_codec
from ..validation import (
    Multisets,
    Wholes,
    as_multisets,
    check_multiset,
    check_whole_attr,
    check_wholes,
    check_wholes_have_parts,
)
from .conditions import condition_features
from .config import CompVAEConfig
from .gaussian import normal, split_loc_scale
from .latents import FromNoise, GenerationNoise, Given, Latents, LatentSource, PriorDraws
from .loss_terms import LossTerms
from .observation_noise import noise_of_whole, whole_from_noise
from .observations import build_observation, decoder_input_dim
from .part_embedding import PartEmbedding
from .part_prior import PartPrior
from .savable import SavableModel
from .whole_view import WholeAsObserved, WholePerPart
from .z_prior import MultisetZPrior, WholeSumZPrior

GENERATE_CHUNK_PARTS = 1024  # parts rendered and summed at a time by generate (bounds its memory at large K)
GENERATE_CHUNK_SAMPLES = 256  # wholes decoded at a time by generate (and by generate_tail's callers)


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


class CompVAE(SavableModel):
    r"""Learns :math:`p(x \mid \{l_i\})`, a whole x generated from a multiset of parts.

    Generative model (paper eq. 1):
    :math:`p(x, z, \{w_i\} \mid \{l_i\}) = p(x \mid z, \tilde{w})\, p(z \mid \tilde{w}) \prod_i p(w_i \mid l_i)`,
    :math:`\tilde{w} = \sum_i w_i`. Inference: :math:`q(z \mid x)`, then the correlated Gaussian
    :math:`q(\{w_i\} \mid x, z, \{l_i\})` from a stack of :class:`PartUpdateConv` over the parts
    of each whole. Batches are PyG disjoint unions: wholes of different K share a batch.

    Composed of modules, each chosen once here: the part prior (:class:`PartPrior`), the z prior of the
    generative order (:class:`WholeSumZPrior`, the paper's, or :class:`MultisetZPrior`, ``CompVAEConfig.z_first``),
    and the observation model on the codec's decoder (:class:`GaussianObservation`, or :class:`PerPartObservation`
    where the decoder speaks for one part, ``CompVAEConfig.per_part_decoder``, and :class:`PerPartJumpObservation`
    where each part also jumps at random, ``CompVAEConfig.observation_jumps``), and what the x-encoder reads of a
    whole (:class:`WholeAsObserved`, or :class:`WholePerPart` for a model that does not see the number of parts,
    ``CompVAEConfig.sees_count``).

    Args:
        config (CompVAEConfig): sizes and constants. (default: the 1D sine problem)
    """

    model_name = "compvae"

    def __init__(self, config: CompVAEConfig | None = None) -> None:
        super().__init__(config or CompVAEConfig())
        c = self.config
        # the generative order, read here alone: z from the multiset and then the parts given z, or the paper's
        # parts first and z from their sum
        z_prior_class = MultisetZPrior if c.z_first else WholeSumZPrior
        codec = get_codec(c.observation)
        decoder_dim = decoder_input_dim(c, c.z_dim + c.whole_latent_dim + c.condition_dim)
        self.x_encoder, x_decoder = codec.build(c.obs_shape, c.x_feature_dim, decoder_dim, c.hidden_dim,
                                                c.render_channels, c.render_hidden_dim)
        # the vector part of w~ is what a per-part decoder reads per part; its last column is K (count_channel)
        self.observation = build_observation(c, x_decoder, decoder_dim, slice(c.z_dim, c.z_dim + c.whole_latent_dim))
        self.whole_view = WholeAsObserved() if c.sees_count else WholePerPart()  # what the x-encoder reads
        self.z_posterior = MLP([c.x_feature_dim + c.condition_dim, c.hidden_dim, 2 * c.z_dim], norm=None)
        self.node_embedding = PartEmbedding(c.num_categories, c.part_attr_dim, c.part_embed_dim)
        self.node_gate = nn.Linear(c.part_embed_dim, c.x_feature_dim) if c.gated_node_features else None
        gated_dim = c.x_feature_dim if c.gated_node_features else 0
        node_dims = [c.x_feature_dim + c.z_dim + c.part_embed_dim + gated_dim] + [c.hidden_dim] * c.num_update_layers
        self.part_updates = PartUpdateStack(node_dims)
        self.w_posterior = nn.Linear(node_dims[-1], 3 * c.w_dim)  # mean, log-variance, correlation logit
        self.part_prior = PartPrior(c, reads_z=z_prior_class.draws_first, build_context=False)
        z_prior_net = MLP([z_prior_class.input_dim(c) + c.condition_dim, c.hidden_dim, 2 * c.z_dim], norm=None)
        self.part_sum = PartSum()
        self.render_embedding, self.part_renderer = None, None
        if c.render_channels:
            self.render_embedding = PartEmbedding(c.num_categories, c.part_attr_dim, c.part_embed_dim)
            self.part_renderer = codec.build_renderer(c.obs_shape, c.w_dim + c.part_embed_dim,
                                                      c.render_hidden_dim, c.render_channels)
        # last, in this order: the weights the rest starts from are the same with or without these options
        self.z_prior = z_prior_class(z_prior_net, c)  # a MultisetZPrior builds its own part embedding here
        self.part_prior.build_context()

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
        if self.part_renderer is not None and part is None:
            raise ValueError("this model renders its parts (render_channels > 0): pass their categories "
                             "(and part_attr) to sum_parts")
        part = w.new_zeros(w.size(0), dtype=torch.long) if part is None else part  # read by a renderer only
        return self._sum_parts(w, Multisets.of(part, part_attr, batch, num_wholes))

    def _sum_parts(self, w: Tensor, multisets: Multisets, chunk: int | None = None) -> Tensor:
        """:meth:`sum_parts` of the parts of ``multisets``, ``chunk`` parts at a time (whole wholes: a single pass)."""
        chunk = chunk or max(w.size(0), 1)
        w_tilde = None
        for start in range(0, max(w.size(0), 1), chunk):
            rows = slice(start, start + chunk)
            batch = multisets.batch[rows]
            per_part = torch.cat([w[rows], w.new_ones(batch.numel(), 1)], -1) if self.config.count_channel \
                else w[rows]
            summed = self.part_sum(per_part, batch, dim_size=multisets.num_wholes)
            if self.part_renderer is not None:
                attr = None if multisets.part_attr is None else multisets.part_attr[rows]
                features = torch.cat([w[rows], self.render_embedding(multisets.part[rows], attr)], dim=-1)
                rendered = self.part_renderer.render_sum(features, batch, multisets.num_wholes)
                summed = torch.cat([summed, rendered.flatten(1)], -1)
            w_tilde = summed if w_tilde is None else w_tilde + summed
        return w_tilde

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
        """The condition features ``[B, condition_dim]`` of ``whole_attr`` (see :func:`condition_features`).

        ``whole_attr``: ``[B, whole_attr_dim]`` or one row for all (B: the rows of ``like``); None: unknown.
        """
        whole_attr = check_whole_attr(whole_attr, like.size(0), self.config.whole_attr_dim)
        return condition_features(whole_attr, like.size(0), self.config, like)

    def decode(self, w_tilde: Tensor, z: Tensor | None = None, whole_attr: Tensor | None = None) -> Distribution:
        r""":math:`p(x \mid z, \tilde{w}, c)` over ``[B, *obs_shape]``.

        With no ``z``, one is drawn from :math:`p(z \mid \tilde{w}, c)` (a model that draws z first needs its ``z``,
        e.g. from :meth:`draw_prior`); ``whole_attr`` are the conditions
        :math:`c` (``[B, whole_attr_dim]`` or one row for all; None: unknown). Build ``w_tilde`` with
        :meth:`sum_parts` from any subset of part latents to recompose a whole from chosen parts.
        """
        conditions = self.conditions(whole_attr, w_tilde)
        if z is None:
            if self.z_prior.draws_first:
                raise ValueError("this model draws z first, from the multiset: pass z (see draw_prior)")
            z = self.z_prior(None, conditions, w_tilde).rsample()
        return self._observe(w_tilde, z, conditions)

    def _observe(self, w_tilde: Tensor, z: Tensor, conditions: Tensor) -> Distribution:
        """:meth:`decode` given z and condition features already built (``[B, condition_dim]``)."""
        vector, rendered = self.split_whole_latent(w_tilde)
        return self.observation(torch.cat([z, vector, conditions], dim=-1), rendered)

    def _conditions(self, multisets: Multisets, like: Tensor) -> Tensor:
        """The condition features of a checked record (``like`` gives the dtype and device)."""
        return condition_features(multisets.whole_attr, multisets.num_wholes, self.config, like)

    # ----- the latents, in the generative order -------------------------------------------------

    def _part_latents(
        self, multisets: Multisets, conditions: Tensor, source: LatentSource,
    ) -> tuple[Tensor | None, Normal | None, Distribution, Tensor]:
        """Z and its prior where z comes first (else None), the part prior (given z) and the part latents."""
        z, z_prior = None, None
        if self.z_prior.draws_first:
            z_prior = self.z_prior(multisets, conditions)
            z = source.z(z_prior)
        part_prior = self.part_prior(multisets, z)
        return z, z_prior, part_prior, source.parts(part_prior)

    def latents(self, multisets: Multisets, conditions: Tensor, source: LatentSource,
                chunk: int | None = None) -> Latents:
        """The latents of the wholes of a checked record, from ``source``, in the model's generative order.

        ``conditions``: the condition features ``[B, condition_dim]``; ``chunk``: parts summed at a time.
        """
        z, z_prior, part_prior, w = self._part_latents(multisets, conditions, source)
        w_tilde = self._sum_parts(w, multisets, chunk)
        if z is None:
            z_prior = self.z_prior(multisets, conditions, w_tilde)
            z = source.z(z_prior)
        return Latents(z, w, w_tilde, z_prior, part_prior)

    # ----- inference and the training objective ------------------------------------------------

    def encode(self, data: Data, noise: LatentNoise | None = None) -> Posterior:
        r"""The posterior of a ``Data``/``Batch`` of wholes.

        :math:`q(z \mid x, c)` (c: the batch's ``whole_attr``, with ``whole_attr_dim``), a sample of z, and
        :math:`q(\{w_i\} \mid x, z, \{l_i\})`.
        """
        return self.posterior(check_wholes(data, self.config, self.dtype), noise)

    def posterior(self, wholes: Wholes, noise: LatentNoise | None = None) -> Posterior:
        """:meth:`encode` of a checked record."""
        c = self.config
        if self.observation.sums_parts:
            check_wholes_have_parts(wholes)
        if noise is None:
            noise = LatentNoise.sample(c, wholes.num_wholes, wholes.part.numel(), wholes.whole.device)
        features = self.x_encoder(self.whole_view(wholes))
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
        posterior = self.posterior(wholes, noise)
        conditions = self._conditions(wholes, wholes.whole)
        latents = self.latents(wholes, conditions, Given(posterior.z, posterior.w_dist.reparameterize(noise.w)))
        loss_w = kl_divergence(posterior.w_dist, latents.part_prior)
        loss_z = (posterior.z_dist.log_prob(latents.z) - latents.z_prior.log_prob(latents.z)).sum(-1)
        loss_x = -self._observe(latents.w_tilde, latents.z, conditions).log_prob(wholes.whole).flatten(1).sum(-1)
        return LossTerms(w=loss_w, z=loss_z, x=loss_x)

    def forward(self, data: Data, noise: LatentNoise | None = None) -> LossTerms[Tensor]:
        """:meth:`loss`."""
        return self.loss(data, noise)

    # ----- generation -------------------------------------------------------------------------

    def prior_latents(
        self, parts: Tensor, num_samples: int = 1, part_attr: Tensor | None = None, whole_attr: Tensor | None = None
    ) -> Tensor:
        r"""Draws the latents of the K parts of one multiset from the part prior (:math:`p(w_i \mid l_i)` in the paper).

        ``[num_samples, K, w_dim]``. Sum any subset over dim 1 and :meth:`decode` it. A model that draws z first
        draws them given a z (from the conditions ``whole_attr``) and needs that z to decode them: use
        :meth:`draw_prior`.
        """
        return self.draw_prior(parts, num_samples, part_attr, whole_attr)[0]

    def draw_prior(
        self, parts: Tensor, num_samples: int = 1, part_attr: Tensor | None = None, whole_attr: Tensor | None = None
    ) -> tuple[Tensor, Tensor | None]:
        r"""The part latents ``[num_samples, K, w_dim]`` of one multiset, and z ``[num_samples, z_dim]`` (z first).

        Where z comes first (:class:`MultisetZPrior`), :math:`z \sim p(z \mid \{l_i\}, c)` (``whole_attr``: the
        conditions c, one row or one per sample; None: unknown) then :math:`w_i \sim p(w_i \mid l_i, z)`; otherwise
        :math:`w_i \sim p(w_i \mid l_i)` and z is None (drawn later, from :math:`p(z \mid \tilde{w}, c)`).
        """
        multisets = check_multiset(parts, part_attr, whole_attr, self.config, self.dtype, copies=num_samples)
        z, _, _, w = self._part_latents(multisets, self._conditions(multisets, w_like(self, parts)), PriorDraws())
        return w.reshape(num_samples, parts.numel(), self.config.w_dim), z

    @torch.no_grad()
    def generate(
        self,
        parts: Tensor | list[int] | list[Tensor],
        num_samples: int = 1,
        part_attr: Tensor | list[Tensor] | None = None,
        whole_attr: Tensor | None = None,
        observation_noise: bool | None = None,
    ) -> Tensor | list[Tensor]:
        r"""Wholes generated from a multiset of parts.

        :math:`w_i \sim p(w_i \mid l_i)` (the part prior), :math:`z \sim p(z \mid \tilde{w}, c)`, then a draw from
        :math:`p(x \mid z, \tilde{w}, c)` or its mean (``observation_noise``); where z comes first
        (:class:`MultisetZPrior`), z is drawn first and the parts given it (:meth:`draw_prior`).

        Args:
            parts: categories ``[K]`` of one multiset (K = 0 allowed; a list of ints is one multiset too, and for a
                model trained on files a list of their category labels), or a list of such tensors for several.
            num_samples: wholes to draw per multiset.
            part_attr: continuous descriptors ``[K, F]`` (or a list), if the model uses them (a model trained on files:
                in the files' units); float64 is converted.
            whole_attr: the known conditions :math:`c` ``[whole_attr_dim]`` (or one row per sample) of the
                wholes (households: ``HouseholdParts.conditions(...)``; a model trained on files also takes them by
                column name, ``{"day_type": "weekday"}``), if the model has any; None: unknown, drawn with z.
            observation_noise: draw from the observation model (True) or give its mean (False); None: as the wholes
                the model learnt from are, ``config.noisy_wholes`` (households, recorded data: draws, whose peaks are
                those the evaluation measures; sines, sites: the mean).

        Returns:
            ``[num_samples, *obs_shape]``, or a list of them for a list of multisets; a model trained on files
            gives them in the files' units.
            Time is linear in K x ``num_samples``; memory too for the part latents (``w_dim`` floats each),
            while the parts are rendered and summed ``GENERATE_CHUNK_PARTS`` at a time and the wholes decoded
            ``GENERATE_CHUNK_SAMPLES`` at a time, which bounds the rest.
        """
        parts = as_multisets(self.part_ids(parts))
        whole_attr = self.encoded_conditions(whole_attr)
        noisy = self.draws_noise(observation_noise)
        if isinstance(parts, list):
            attrs = part_attr if part_attr is not None else [None] * len(parts)
            if len(attrs) != len(parts):
                raise ValueError(f"{len(parts)} multisets but {len(attrs)} part_attr tensors")
            return [self.generate(p, num_samples, a, whole_attr, noisy)
                    for p, a in zip(parts, attrs, strict=True)]
        multisets = check_multiset(parts, self.encoded_descriptors(part_attr), whole_attr, self.config, self.dtype,
                                   copies=num_samples)
        num_parts = parts.numel()
        # whole by whole where a chunk holds whole wholes, so the sums are those of a single pass (K = 0: w~ = 0)
        chunk = num_parts * max(1, GENERATE_CHUNK_PARTS // num_parts) if 0 < num_parts <= GENERATE_CHUNK_PARTS \
            else GENERATE_CHUNK_PARTS
        conditions = self._conditions(multisets, w_like(self, parts))
        latents = self.latents(multisets, conditions, PriorDraws(), chunk)
        wholes = []
        for start in range(0, num_samples, GENERATE_CHUNK_SAMPLES):
            rows = slice(start, start + GENERATE_CHUNK_SAMPLES)
            x = self._observe(latents.w_tilde[rows], latents.z[rows], conditions[rows])
            wholes.append(x.sample() if noisy else x.mean)
        return self.in_file_units(torch.cat(wholes))

    # ----- the model as a structural one: wholes as a map of standard-normal noise ----------------

    def generation_noise(self, parts: Tensor, num_samples: int, observation_noise: bool = False) -> GenerationNoise:
        """Fresh standard-normal noise for ``num_samples`` wholes of the multiset ``parts`` ``[K]``."""
        c = self.config
        device, dtype = parts.device, self.dtype
        groups = parts.unique().numel() if c.prior_group_factor else 0

        def randn(*shape: int) -> Tensor:
            return torch.randn(num_samples, *shape, device=device, dtype=dtype)

        return GenerationNoise(randn(c.z_dim), randn(parts.numel(), c.w_dim),
                               randn(groups, c.w_dim) if c.prior_group_factor else None,
                               randn(*self.observation.noise_shape(c.obs_shape)) if observation_noise else None)

    def wholes_from_noise(
        self, parts: Tensor, noise: GenerationNoise, part_attr: Tensor | None = None,
        whole_attr: Tensor | None = None,
    ) -> Tensor:
        r"""The wholes ``[S, *obs_shape]`` the model generates from the multiset ``parts`` ``[K]`` with ``noise``.

        The generative model as a deterministic map of standard-normal noise: where z comes first
        :math:`z = \mu_z + \sigma_z \eta` from :math:`p(z \mid \{l_i\}, c)`, then the part latents
        :math:`w_i = \mu_i + \sigma_i \epsilon_i\ (+\, b_i u_g)` from the part prior (given z); otherwise the part
        latents first and z from :math:`p(z \mid \tilde{w}, c)`; then the mean of :math:`p(x \mid z, \tilde{w}, c)`,
        or with ``noise.x`` its quantile at :math:`\Phi(\epsilon_x)` (a Gaussian's :math:`\mu_x + \sigma_x \epsilon_x`,
        :mod:`~compvae_geo.models.observation_noise`). Fresh noise gives wholes of the law of
        :meth:`generate`.
        """
        multisets = check_multiset(parts, part_attr, whole_attr, self.config, self.dtype, copies=noise.z.size(0))
        return self.wholes_of(multisets, noise)

    def wholes_of(self, multisets: Multisets, noise: GenerationNoise) -> Tensor:
        """:meth:`wholes_from_noise` of a checked record of copies of one multiset (one per row of the noise)."""
        conditions = self._conditions(multisets, noise.z)
        latents = self.latents(multisets, conditions, FromNoise(noise))
        x = self._observe(latents.w_tilde, latents.z, conditions)
        return x.mean if noise.x is None else whole_from_noise(x, noise.x)

    def abduct(self, wholes: Wholes, observation_noise: bool = True) -> GenerationNoise:
        r"""The standard-normal noises behind a posterior draw of the latents of each observed whole.

        :math:`z, \{w_i\}` are drawn from :math:`q(z \mid x, c)\,q(\{w_i\} \mid x, z, \{l_i\})`, and the noises that
        give them under the prior of the observed multiset are returned: z's :math:`\eta`, each part's
        :math:`\epsilon_i`, each category's shared :math:`u_g` (group-factor prior,
        :meth:`~compvae_geo.layers.PartGroupDiagonalFactorNormal.abduct`) and, with ``observation_noise``, the
        observation's residual :math:`\epsilon_x = \Phi^{-1}(F(x))` (a Gaussian's :math:`(x - \mu_x) / \sigma_x`).
        ``wholes``: copies of one observed whole (the noise has the layout of :meth:`generation_noise` for its
        multiset).
        """
        posterior = self.posterior(wholes)
        z, w = posterior.z, posterior.w_dist.sample()
        conditions = self._conditions(wholes, wholes.whole)
        latents = self.latents(wholes, conditions, Given(z, w))
        own, shared = latents.part_prior.abduct(w)
        residual = None
        if observation_noise:
            reconstruction = self._observe(latents.w_tilde, z, conditions)
            residual = noise_of_whole(reconstruction, wholes.whole)
        copies = wholes.num_wholes
        return GenerationNoise((z - latents.z_prior.loc) / latents.z_prior.scale, own.view(copies, -1, own.size(-1)),
                               None if shared is None else shared.view(copies, -1, shared.size(-1)), residual)

    def extra_repr(self) -> str:
        """The sizes shown by ``repr``."""
        c = self.config
        return f"obs_shape={c.obs_shape}, num_categories={c.num_categories}, w_dim={c.w_dim}, z_dim={c.z_dim}"


def w_like(model: CompVAE, parts: Tensor) -> Tensor:
    """An empty tensor of the model's float type on the device of ``parts`` (what features are built like)."""
    return torch.empty(0, device=parts.device, dtype=model.dtype)
