"""CompVAE read as a structural model: every latent its parameters plus a scaled standard-normal noise.

The methods of :class:`~compvae_geo.models.CompVAE` that work on that noise: :meth:`~StructuralMethods.recompose`
(what-if wholes of an observation, by abduction of its noises) and :meth:`~StructuralMethods.generate_tail`
(the wholes whose statistic exceeds a quantile, by MCMC in the noise of
:meth:`~StructuralMethods.wholes_from_noise`). Design and measurements: ``docs/design.md``.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor
from torch_geometric.data import Data

from compvae_geo.layers import repeat_rows

from ..validation import Wholes, as_float, as_multisets, check_edit, check_num_samples, check_parts, check_wholes
from .conditions import condition_features
from .tail import TailSettings, sample_tail

GENERATE_CHUNK_SAMPLES = 256  # wholes decoded at a time by generate and generate_tail
# recompose warns when a noise it abducts from an observation (z's, the parts' own, the shared factors) has a root
# mean square above this (1 expected): the observation is unlike the training data (households `cpu` model: 1.0 at
# the training n, at most 1.3 at twice it, up to 4.3 at four times it, where the what-if wholes explode)
IMPLAUSIBLE_NOISE_RMS = 2.0

STATISTICS: dict[str, Callable[[Tensor], Tensor]] = {  # statistics of wholes [S, *obs_shape] -> [S] by name
    "peak": lambda wholes: wholes.flatten(1).amax(-1),
    "energy": lambda wholes: wholes.flatten(1).sum(-1),
    "mean": lambda wholes: wholes.flatten(1).mean(-1),
}


def statistic_function(statistic: str | Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
    """A statistic by name (:data:`STATISTICS`), or the function itself."""
    if callable(statistic):
        return statistic
    if statistic not in STATISTICS:
        raise ValueError(f"unknown statistic {statistic!r}; known: {sorted(STATISTICS)}, or a function of wholes")
    return STATISTICS[statistic]


@dataclass
class TailSample:
    """Wholes in the tail of a statistic (:meth:`CompVAE.generate_tail`), and what they cost."""

    wholes: Tensor  # [num_samples, *obs_shape]
    statistic: Tensor  # [num_samples], each above threshold
    threshold: float  # the estimated quantile of the statistic under the model
    threshold_error: float  # its Monte-Carlo standard error
    evaluations: int  # wholes the model generated in all
    chain_evaluations: int  # of which by the sampling chains after their burn-in (what more samples cost)
    effective_samples: float  # effectively independent samples (from the chains' autocorrelation)
    acceptance: float  # acceptance rate of the sampling chains


def _warn_if_implausible(noises: list[Tensor]) -> None:
    """Warns when abducted standard-normal noises are far from standard (see :data:`IMPLAUSIBLE_NOISE_RMS`)."""
    rms = max((float(noise.pow(2).mean().sqrt()) for noise in noises if noise.numel()), default=0.0)
    if rms > IMPLAUSIBLE_NOISE_RMS:
        warnings.warn(f"the observation is unlike the model's training data: the noises recompose infers from it "
                      f"have a root mean square of {rms:.1f} where 1 is expected, so its what-if wholes may be far "
                      "off (for instance beyond the numbers of parts it was trained on)", stacklevel=4)


def _shared_by_category(shared: Tensor, group: Tensor, before: Wholes, edited: Tensor, num_categories: int) -> Tensor:
    """The shared factors of the edited multiset ``edited`` ``[K']``, from those of the observed wholes ``before``.

    ``shared`` ``[groups, D]`` holds one factor per group ``group`` ``[N]`` (the parts of a whole that share a
    category) of ``before``, copies of one observed whole. A category the observation had keeps its factor, a new
    one gets a fresh standard-normal draw. Returns ``[copies, categories of edited, D]``, by category.
    """
    copies = before.num_wholes
    key_of_group = group.new_zeros(shared.size(0)).scatter_(0, group, before.batch * num_categories + before.part)
    table = torch.randn(copies * num_categories, shared.size(-1), dtype=shared.dtype, device=shared.device)
    table[key_of_group] = shared
    categories = edited.unique()  # sorted, as the part prior numbers the groups of each whole
    rows = torch.arange(copies, device=edited.device)[:, None] * num_categories + categories[None, :]
    return table[rows]


def _copies(observed: Wholes, times: int) -> Wholes:
    """``times`` copies of one whole, as a batch of ``times`` wholes."""
    num_parts = observed.part.numel()
    batch = torch.arange(times, device=observed.part.device).repeat_interleave(num_parts)
    return Wholes(observed.part.repeat(times), repeat_rows(observed.part_attr, times),
                  repeat_rows(observed.whole, times), batch, times, repeat_rows(observed.whole_attr, times))


@dataclass
class GenerationNoise:
    """The standard-normal draws behind wholes generated from one multiset (:meth:`CompVAE.wholes_from_noise`)."""

    z: Tensor  # [S, z_dim]: the noise of z (z = mu_z + sigma_z * this)
    own: Tensor  # [S, K, w_dim]: each part's own noise in the part prior
    shared: Tensor | None  # [S, G, w_dim]: each category's shared factor (group-factor prior; G categories), or None
    x: Tensor | None  # [S, *obs_shape]: the observation noise, or None for the means

    def as_list(self) -> list[Tensor]:
        """The tensors that are set, in a fixed order (what :mod:`~compvae_geo.models.tail` moves)."""
        return [t for t in (self.z, self.own, self.shared, self.x) if t is not None]

    def like(self, tensors: list[Tensor]) -> GenerationNoise:
        """Noise of the same layout from ``tensors`` in :meth:`as_list` order."""
        items = iter(tensors)
        return GenerationNoise(*(None if t is None else next(items) for t in (self.z, self.own, self.shared, self.x)))


class StructuralMethods:
    """The noise-level methods of :class:`~compvae_geo.models.CompVAE` (a mixin: it uses the model's networks)."""

    # ----- the tail of a statistic ----------------------------------------------------------------

    def generation_noise(self, parts: Tensor, num_samples: int, observation_noise: bool = False) -> GenerationNoise:
        """Fresh standard-normal noise for ``num_samples`` wholes of the multiset ``parts`` ``[K]``."""
        c = self.config
        device, dtype = parts.device, self.dtype
        groups = parts.unique().numel() if c.prior_group_factor else 0

        def randn(*shape: int) -> Tensor:
            return torch.randn(num_samples, *shape, device=device, dtype=dtype)

        return GenerationNoise(randn(c.z_dim), randn(parts.numel(), c.w_dim),
                               randn(groups, c.w_dim) if c.prior_group_factor else None,
                               randn(*c.obs_shape) if observation_noise else None)

    def wholes_from_noise(
        self, parts: Tensor, noise: GenerationNoise, part_attr: Tensor | None = None,
        whole_attr: Tensor | None = None,
    ) -> Tensor:
        r"""The wholes ``[S, *obs_shape]`` the model generates from the multiset ``parts`` ``[K]`` with ``noise``.

        The generative model as a deterministic map of standard-normal noise: with ``z_first``
        :math:`z = \mu_z + \sigma_z \eta` from :math:`p(z \mid \{l_i\}, c)`, then the part latents
        :math:`w_i = \mu_i + \sigma_i \epsilon_i\ (+\, b_i u_g)` from the part prior (given z); otherwise the part
        latents first and z from :math:`p(z \mid \tilde{w}, c)`; then the mean of :math:`p(x \mid z, \tilde{w}, c)`,
        plus :math:`\sigma_x \epsilon_x` when ``noise.x`` is set. Fresh noise gives wholes of the law of
        :meth:`generate`.
        """
        c = self.config
        check_parts(parts, part_attr, c.num_categories, c.part_attr_dim)
        num_samples, num_parts = noise.z.size(0), parts.numel()
        batch = torch.arange(num_samples, device=parts.device).repeat_interleave(num_parts)
        every_part, every_attr = parts.repeat(num_samples), repeat_rows(part_attr, num_samples)
        conditions = self.conditions(as_float("whole_attr", whole_attr, self.dtype), noise.z)
        z = None
        if c.z_first:
            z_prior = self._z_prior_dist(self.multiset_summary(parts, part_attr).expand(num_samples, -1), conditions)
            z = z_prior.loc + z_prior.scale * noise.z
        prior = self.part_prior(every_part, every_attr, batch, num_samples, z)
        shared = None if noise.shared is None else noise.shared.flatten(0, 1)
        w = prior.from_noise(noise.own.flatten(0, 1), shared)
        w_tilde = self.sum_parts(w, batch, num_samples, every_part, every_attr)
        if not c.z_first:
            z_prior = self._z_prior_dist(w_tilde, conditions)
            z = z_prior.loc + z_prior.scale * noise.z
        x = self._decode(w_tilde, z, conditions)
        return x.mean if noise.x is None else x.mean + x.stddev * noise.x

    @torch.no_grad()
    def generate_tail(
        self,
        parts: Tensor | list[int],
        num_samples: int,
        statistic: str | Callable[[Tensor], Tensor] = "peak",
        quantile: float = 0.99,
        part_attr: Tensor | None = None,
        whole_attr: Tensor | None = None,
        observation_noise: bool = False,
        settings: TailSettings | None = None,
    ) -> TailSample:
        """Wholes of one multiset whose ``statistic`` exceeds its ``quantile`` under the model (its peak days).

        Samples the model's own conditional law given the statistic above its q-quantile, without brute-force
        rejection: subset simulation and preconditioned Crank-Nicolson chains in the standard-normal noise of
        :meth:`wholes_from_noise` (:func:`~compvae_geo.models.tail.sample_tail`), which also estimate the quantile
        with its Monte-Carlo error and count the model evaluations.

        Args:
            parts: categories ``[K]`` of the multiset (or a list of ints).
            num_samples: tail wholes to return.
            statistic: a name of :data:`STATISTICS` (``peak``: the largest value of a whole; ``energy``: its sum;
                ``mean``) or a function of wholes ``[S, *obs_shape]`` to ``[S]``.
            quantile: q in (0, 1).
            part_attr: descriptors ``[K, F]`` of the parts, if the model uses them (as in :meth:`generate`).
            whole_attr: the known conditions ``[whole_attr_dim]`` (as in :meth:`generate`).
            observation_noise: the wholes include the observation model's noise (as :meth:`generate`'s).
            settings: how the sampler spends its evaluations (:class:`~compvae_geo.models.tail.TailSettings`).
        """
        parts = as_multisets(parts)
        if not isinstance(parts, Tensor):
            raise ValueError("generate_tail takes one multiset")
        check_num_samples(num_samples)
        part_attr = as_float("part_attr", part_attr, self.dtype)
        measure = statistic_function(statistic)
        template = self.generation_noise(parts, 1, observation_noise)

        def wholes(tensors: list[Tensor]) -> Tensor:
            return self.wholes_from_noise(parts, template.like(tensors), part_attr, whole_attr)

        def draw(n: int) -> list[Tensor]:
            return self.generation_noise(parts, n, observation_noise).as_list()

        def score(tensors: list[Tensor]) -> Tensor:
            return torch.cat([measure(wholes([t[start:start + GENERATE_CHUNK_SAMPLES] for t in tensors]))
                              for start in range(0, tensors[0].size(0), GENERATE_CHUNK_SAMPLES)])

        result = sample_tail(draw, score, quantile, num_samples, settings)
        return TailSample(wholes(result.noise), result.statistic, result.threshold, result.threshold_error,
                          result.evaluations + num_samples, result.chain_evaluations, result.effective_samples,
                          result.acceptance)

    # ----- what-if recomposition -------------------------------------------------------------

    @torch.no_grad()
    def recompose(
        self,
        data: Data,
        remove: Tensor | list[int] | None = None,
        add_part: Tensor | list[int] | None = None,
        add_part_attr: Tensor | None = None,
        num_samples: int = 1,
        observation_noise: bool = True,
    ) -> Tensor:
        r"""What an observed whole would have been with some of its parts removed and others added.

        A counterfactual of the generative model read as a structural one, in which every latent is its
        parameters plus a scaled standard-normal noise: :math:`z = \mu_z + \sigma_z \eta` (with ``z_first``
        from the multiset and the conditions, else from :math:`\tilde{w}`), :math:`w_i = \mu_i + \sigma_i
        \epsilon_i\ (+\, b_i u_g)` from the part prior, :math:`x = \mu_x + \sigma_x \epsilon_x`.

        1. Abduction: :math:`z, \{w_i\}` are drawn from the posterior :math:`q(z \mid x, c)\,q(\{w_i\} \mid x,
           z, \{l_i\})`, and the noises that give them under the prior of the observed multiset are kept: the
           day's :math:`\eta`, each kept part's :math:`\epsilon_i`, each category's shared :math:`u_g`
           (:meth:`~compvae_geo.layers.PartGroupDiagonalFactorNormal.abduct`) and, with ``observation_noise``,
           the observation's residual :math:`\epsilon_x = (x - \mu_x) / \sigma_x`.
        2. Action: the removed parts go, the added parts come with fresh noise (their category's :math:`u_g`
           where a kept part shares it).
        3. Prediction: the same noises through the model with the edited multiset and the observation's
           conditions ``whole_attr``; the whole's mean, plus :math:`\sigma_x' \epsilon_x` with ``observation_noise``.

        Nothing removed or added gives back the observation (its reconstruction's means without
        ``observation_noise``); what the parts share (the day's weather, calendar and events) stays the
        observation's, while what the multiset itself implies (a smaller feeder loads less) follows the edit.

        Args:
            data: one observed whole: ``part`` [K], ``whole`` [1, *obs_shape], and ``part_attr``/``whole_attr``
                where the model has them.
            remove: positions (``0 .. K-1``) of the observed parts to remove.
            add_part: categories of the parts to add (a LongTensor [A] or a list of ints).
            add_part_attr: their descriptors ``[A, F]``, where the model has them.
            num_samples: what-if wholes to draw, each from its own draw of the posterior.
            observation_noise: carry the observation's residual over (see above), else return the means.

        Returns:
            ``[num_samples, *obs_shape]``.
        """
        check_num_samples(num_samples)
        observed = check_wholes(data, self.config, self.dtype)
        if observed.num_wholes != 1:
            raise ValueError(f"recompose takes one observed whole, got {observed.num_wholes}")
        c = self.config
        edit = check_edit(observed.part.numel(), remove, add_part, as_float("add_part_attr", add_part_attr, self.dtype),
                          c.num_categories, c.part_attr_dim).to(observed.part.device)
        before = _copies(observed, num_samples)
        # abduction: the noises behind a posterior draw of the observation's latents
        posterior = self._posterior(before, None)
        w, z = posterior.w_dist.sample(), posterior.z
        prior = self.part_prior(before.part, before.part_attr, before.batch, num_samples, z if c.z_first else None)
        own, shared = prior.abduct(w)
        w_tilde = self.sum_parts(w, before.batch, num_samples, before.part, before.part_attr)
        conditions = condition_features(before.whole_attr, num_samples, c, before.whole)
        z_context = self.multiset_summary(before.part, before.part_attr, before.batch, num_samples) if c.z_first \
            else w_tilde
        z_prior = self._z_prior_dist(z_context, conditions)
        day = (z - z_prior.loc) / z_prior.scale
        _warn_if_implausible([day, own] + ([] if shared is None else [shared]))
        residual = None
        if observation_noise:
            reconstruction = self._decode(w_tilde, z, conditions)
            residual = (before.whole - reconstruction.mean) / reconstruction.stddev
        # action: the removed parts' noise goes, the added parts get fresh noise (and their category's shared factor)
        part, part_attr = edit.edited_parts(observed.part, observed.part_attr)
        kept_own = own.view(num_samples, -1, c.w_dim)[:, edit.keep]
        added_own = torch.randn(num_samples, edit.add_part.numel(), c.w_dim, dtype=own.dtype, device=own.device)
        if shared is not None:
            shared = _shared_by_category(shared, prior.group, before, part, c.num_categories)
        # prediction: the same noises through the model with the edited multiset
        noise = GenerationNoise(day, torch.cat([kept_own, added_own], 1), shared, residual)
        return self.wholes_from_noise(part, noise, part_attr, observed.whole_attr)
