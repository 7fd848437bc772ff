r"""Observation models that compose: the decoder speaks for one part, the whole is K of them."""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.distributions import Distribution, Normal
from torch_geometric.nn import MLP

from ..codecs.pointwise_head import PointwiseHead
from .gaussian import floored_scale, normal
from .jump_kinds_normal import KIND_NOISES, JumpKindsNormal
from .jump_normal import NOISES, BinomialJumpNormal

JUMP_OUTPUTS = 3  # per element: the logit of a jump's probability, its raw size and its raw spread


class PerPartObservation(nn.Module):
    r""":math:`p(x \mid h) = \mathcal{N}(K \mu(\bar{h}), \mathrm{diag}\, K \sigma^2(\bar{h}))`, K the number of parts.

    The decoder reads the whole's latent per part, :math:`\bar{h} = (z, \tilde{w}_{vec} / K, c, 1 / K)`, and the
    rendered sum per part, :math:`r / K`; its mean and variance are those of one part, and the whole's are K times
    theirs, as for a sum of K parts with independent residuals. What the decoder reads then stays in the range of
    training whatever K, so that a whole of more parts than any training whole scales with them (the whole is still
    not the sum of its parts: :math:`\mu` reads every part through the means and 1/K). K comes from the count
    channel of :math:`\tilde{w}` (``count_channel``). A whole of no parts is exactly 0 (a point mass: its mean, its
    draws and the whole its noise gives are 0; it has no density, so it is neither trained on nor abducted from, see
    :attr:`sums_parts`). With ``reads_count=False`` the decoder does not read 1/K: the whole of r copies of a
    multiset's part latents is then exactly r times its whole in mean and variance.

    Args:
        decoder (nn.Module): ``decoder(latent, rendered)`` gives the mean and a raw std (a codec's x-decoder), built
            for one more input than the latent has (the 1/K) where it reads K.
        scale_floor (float): smooth lower bound of each part's std.
        vector (slice): where the vector part of :math:`\tilde{w}` lies in the latent; its last column is K.
        reads_count (bool): the decoder also reads 1/K. (default: ``True``)
    """

    sums_parts = True  # the whole is a sum over its parts: none make the point mass at 0

    def __init__(self, decoder: nn.Module, scale_floor: float, vector: slice, reads_count: bool = True) -> None:
        super().__init__()
        self.decoder, self.scale_floor, self.vector, self.reads_count = decoder, scale_floor, vector, reads_count

    def per_part(self, latent: Tensor, rendered: Tensor | None) -> tuple[Tensor, Tensor, Tensor | None]:
        """K ``[B, 1]``, the latent per part ``[B, D (+ 1 with 1/K)]`` and the rendered sum per part (or None).

        A whole of no parts is read as one part (its sums are 0), which it then has K = 0 times.
        """
        count = latent[:, self.vector.stop - 1:self.vector.stop]
        read = count.clamp(min=1.0)
        v = self.vector
        inputs = [latent[:, :v.start], latent[:, v] / read, latent[:, v.stop:]]
        part_latent = torch.cat([*inputs, read.reciprocal()] if self.reads_count else inputs, -1)
        part_rendered = None if rendered is None else rendered / _per_whole(read, rendered)
        return count, part_latent, part_rendered

    def forward(self, latent: Tensor, rendered: Tensor | None = None) -> Normal:
        """The distribution of x given ``latent`` ``[B, D]`` (and a rendered sum ``[B, channels, *grid]``)."""
        count, part_latent, part_rendered = self.per_part(latent, rendered)
        loc, raw_scale = self.decoder(part_latent, part_rendered)
        scale = floored_scale(raw_scale, self.scale_floor).expand_as(loc)
        whole_count = _per_whole(count, loc)
        return normal(whole_count * loc, whole_count.sqrt() * scale)

    @staticmethod
    def noise_shape(obs_shape: tuple[int, ...]) -> tuple[int, ...]:
        """The shape of the standard-normal noise of one whole (:mod:`~compvae_geo.models.observation_noise`)."""
        return tuple(obs_shape)

    def extra_repr(self) -> str:  # noqa: D102
        return f"scale_floor={self.scale_floor}, vector={self.vector}, reads_count={self.reads_count}"


class PerPartJumpObservation(PerPartObservation):
    r"""Each part a Gaussian that jumps at random, element by element; the whole the sum of K of them.

    :math:`p(x \mid h) = \prod_t \mathrm{BinomialJumpNormal}(x_t;\ K, \mu_t, \sigma_t, \pi_t, a_t, s_t)`
    (:class:`~compvae_geo.models.jump_normal.BinomialJumpNormal`): one part's level :math:`\mu_t, \sigma_t` comes from
    the decoder as in :class:`PerPartObservation`, and a jump of size :math:`a_t \sim \mathcal{N}(a_t, s_t^2)`
    (:math:`a_t \geq 0`) happens with probability :math:`\pi_t`, from a network on the same latent per part. A single
    part's spikes (a kettle, an EV charging) are then made by the likelihood instead of being spread as Gaussian noise
    at every step, and the whole's law is exact for every K: an exact log-likelihood, so the ELBO keeps its meaning.
    With ``render_channels`` the jump network also reads the parts' rendered sum per part at each element, through a
    :class:`~compvae_geo.codecs.pointwise_head.PointwiseHead` (as the decoder's mean does), so that a part's latent
    can say when its jumps happen (an EV charging from 19 h).

    Args:
        decoder (nn.Module): as for :class:`PerPartObservation`.
        scale_floor (float): smooth lower bound of each part's std and of a jump's spread.
        vector (slice): as for :class:`PerPartObservation`.
        obs_shape (tuple[int, ...]): the shape of one whole.
        latent_dim (int): the size of the latent per part (what the decoder reads).
        hidden_dim (int): the width of the jump network's hidden layer.
        reads_count (bool): as for :class:`PerPartObservation`.
        render_channels (int): channels of the rendered sum the jump network reads (0: the latent alone).
        render_hidden_dim (int): the width of its pointwise head's hidden layer (with ``render_channels``).
        jump_outputs (int): the jump network's outputs per element (a subclass's law may need more).
    """

    def __init__(self, decoder: nn.Module, scale_floor: float, vector: slice, obs_shape: tuple[int, ...],
                 latent_dim: int, hidden_dim: int, reads_count: bool = True, render_channels: int = 0,
                 render_hidden_dim: int = 0, jump_outputs: int = JUMP_OUTPUTS) -> None:
        super().__init__(decoder, scale_floor, vector, reads_count)
        self.obs_shape = tuple(obs_shape)
        self.jump_channels = render_channels or jump_outputs
        self.jump_net = MLP([latent_dim, hidden_dim, self.jump_channels * math.prod(obs_shape)], norm=None)
        self.jump_head = PointwiseHead(render_channels, render_channels, render_hidden_dim, jump_outputs) \
            if render_channels else None

    def jump_parameters(self, part_latent: Tensor, part_rendered: Tensor | None) -> Tensor:
        """The raw jump parameters ``[B, jump_outputs, *obs_shape]`` of one part (here its logit, size and spread)."""
        jumps = self.jump_net(part_latent).view(part_latent.size(0), self.jump_channels, *self.obs_shape)
        if self.jump_head is None:
            return jumps
        if part_rendered is None:
            raise ValueError("this jump network reads the rendered sum of the parts: give it")
        return self.jump_head(jumps, part_rendered)

    def forward(self, latent: Tensor, rendered: Tensor | None = None) -> Distribution:
        """The distribution of x given ``latent`` ``[B, D]`` (and a rendered sum ``[B, channels, *grid]``)."""
        count, part_latent, part_rendered = self.per_part(latent, rendered)
        loc, raw_scale = self.decoder(part_latent, part_rendered)
        return self.law(_per_whole(count, loc), loc, floored_scale(raw_scale, self.scale_floor),
                        self.jump_parameters(part_latent, part_rendered))

    def law(self, count: Tensor, loc: Tensor, scale: Tensor, jumps: Tensor) -> Distribution:
        """The law of K parts given one part's level and its raw jump parameters (:meth:`jump_parameters`)."""
        jump_logit, raw_jump_loc, raw_jump_scale = jumps.unbind(1)
        return BinomialJumpNormal(count, loc, scale, jump_logit, torch.nn.functional.softplus(raw_jump_loc),
                                  floored_scale(raw_jump_scale, self.scale_floor))

    def noise_shape(self, obs_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Two standard-normal noises per element: the number of jumps' and the level's."""
        return (*obs_shape, NOISES)

    def extra_repr(self) -> str:  # noqa: D102
        return f"{super().extra_repr()}, obs_shape={self.obs_shape}, jump_channels={self.jump_channels}"


class PerPartJumpKindsObservation(PerPartJumpObservation):
    r"""As :class:`PerPartJumpObservation`, with jumps of M kinds: all of a whole's jumps at one element of one kind.

    :math:`p(x \mid h) = \prod_t \mathrm{JumpKindsNormal}(x_t;\ K, \mu_t, \sigma_t, \rho_t, \pi_t, a_t, s_t)`
    (:class:`~compvae_geo.models.jump_kinds_normal.JumpKindsNormal`): the jump network gives, per element, each
    kind's probability :math:`\rho_{t,m}` and its jump probability, size and spread. One part's law is then a level
    with jumps of M sizes (an 11 kW wallbox and a 2 kW kettle, which one Gaussian size spreads over 5-8 kW); a whole
    of K parts draws one kind per element for all its parts. Exact log-likelihood; M times the binomial law's cost.

    Args:
        kinds (int): M, at least 2.
        *args, **kwargs: as for :class:`PerPartJumpObservation`.
    """

    def __init__(self, decoder: nn.Module, scale_floor: float, vector: slice, obs_shape: tuple[int, ...],
                 latent_dim: int, hidden_dim: int, kinds: int, reads_count: bool = True, render_channels: int = 0,
                 render_hidden_dim: int = 0) -> None:
        if kinds < 2:
            raise ValueError(f"jumps of several kinds need at least 2, got {kinds}")
        super().__init__(decoder, scale_floor, vector, obs_shape, latent_dim, hidden_dim, reads_count,
                         render_channels, render_hidden_dim, (JUMP_OUTPUTS + 1) * kinds)
        self.kinds = kinds

    def law(self, count: Tensor, loc: Tensor, scale: Tensor, jumps: Tensor) -> Distribution:
        """The law of K parts; ``jumps`` ``[B, 4 M, *obs_shape]``: each kind's logit, jump logit, size, spread."""
        per_kind = jumps.view(jumps.size(0), JUMP_OUTPUTS + 1, self.kinds, *self.obs_shape).movedim(2, -1)
        kind_logits, jump_logit, raw_jump_loc, raw_jump_scale = per_kind.unbind(1)
        return JumpKindsNormal(count, loc, scale, kind_logits, jump_logit,
                               torch.nn.functional.softplus(raw_jump_loc),
                               floored_scale(raw_jump_scale, self.scale_floor))

    def noise_shape(self, obs_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Three standard-normal noises per element: the kind's, the number of jumps' and the level's."""
        return (*obs_shape, KIND_NOISES + NOISES)

    def extra_repr(self) -> str:  # noqa: D102
        return f"{super().extra_repr()}, kinds={self.kinds}"


def _per_whole(count: Tensor, like: Tensor) -> Tensor:
    """K ``[B, 1]`` shaped to broadcast over the elements of each whole of ``like`` ``[B, ...]``."""
    return count.view(-1, *([1] * (like.dim() - 1)))
