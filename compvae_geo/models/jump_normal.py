r"""The law of a sum of K parts, each a Gaussian with a jump that occurs at random, element by element."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.distributions import Binomial, Distribution, constraints

LOG_TWO_PI = math.log(2 * math.pi)
BISECTION_STEPS = 64  # halvings of the bracket in :meth:`BinomialJumpNormal.icdf` (float64: exact to rounding)
BRACKET_STDS = 12.0  # the bracket of :meth:`~BinomialJumpNormal.icdf` reaches this many stds past every component


class BinomialJumpNormal(Distribution):
    r"""The sum of K independent parts :math:`x_h = \mu + \sigma e_h + b_h (a + s d_h)`, element by element.

    :math:`e_h, d_h \sim \mathcal{N}(0, 1)` and :math:`b_h \sim \mathrm{Bernoulli}(\pi)`: each part is a Gaussian
    level that jumps by :math:`a` (say an appliance switched on) with probability :math:`\pi`. Given the number of
    jumps :math:`j \sim \mathrm{Binomial}(K, \pi)` the sum is Gaussian, so the density is an exact mixture of K + 1
    Gaussians:

    .. math::
        p(x) = \sum_{j=0}^{K} \binom{K}{j} \pi^j (1 - \pi)^{K - j}\,
        \mathcal{N}\big(x;\ K\mu + j a,\ K\sigma^2 + j s^2\big),

    with mean :math:`K(\mu + \pi a)` and variance :math:`K(\sigma^2 + \pi s^2 + \pi (1 - \pi) a^2)`. K = 1 is a
    two-component mixture; as K grows the sum tends to a Gaussian, as a sum of parts does.

    Args:
        count (Tensor): K per whole, broadcastable to the other parameters (integer-valued, >= 1).
        loc (Tensor): :math:`\mu`, one part's level.
        scale (Tensor): :math:`\sigma > 0`.
        jump_logit (Tensor): :math:`\operatorname{logit} \pi`.
        jump_loc (Tensor): :math:`a`, the size of a jump.
        jump_scale (Tensor): :math:`s > 0`, the spread of a jump's size.
    """

    arg_constraints: dict = {}
    support = constraints.real
    has_rsample = False

    def __init__(self, count: Tensor, loc: Tensor, scale: Tensor, jump_logit: Tensor, jump_loc: Tensor,
                 jump_scale: Tensor) -> None:
        self.loc, self.scale, self.jump_logit, self.jump_loc, self.jump_scale = torch.broadcast_tensors(
            loc, scale, jump_logit, jump_loc, jump_scale)
        self.count = count  # kept in its own shape (one K per whole): the binomial weights are computed per K only
        super().__init__(torch.broadcast_shapes(count.shape, self.loc.shape), validate_args=False)

    @property
    def jump_prob(self) -> Tensor:
        r""":math:`\pi`."""
        return torch.sigmoid(self.jump_logit)

    @property
    def mean(self) -> Tensor:  # noqa: D102
        return (self.count * (self.loc + self.jump_prob * self.jump_loc)).expand(self.batch_shape)

    @property
    def variance(self) -> Tensor:  # noqa: D102
        p = self.jump_prob
        return (self.count * (self.scale ** 2 + p * self.jump_scale ** 2 + p * (1 - p) * self.jump_loc ** 2)).expand(
            self.batch_shape)

    def _components(self) -> tuple[Tensor, Tensor, Tensor]:
        """Log weights, means and variances of the K + 1 Gaussians, on a last axis of ``max K + 1``.

        The components past a whole's K (there to batch wholes of different K) have weight 0.
        """
        k = self.count.unsqueeze(-1)
        j = torch.arange(int(self.count.max()) + 1, device=self.loc.device, dtype=self.loc.dtype)
        log_choose = (torch.lgamma(k + 1) - torch.lgamma(j + 1) - torch.lgamma((k - j).clamp(min=0) + 1)).masked_fill(
            j > k, float("-inf"))  # in the shape of K: one row per whole, not per element
        log_weight = (log_choose + j * F.logsigmoid(self.jump_logit).unsqueeze(-1)
                      + (k - j) * F.logsigmoid(-self.jump_logit).unsqueeze(-1))
        loc = k * self.loc.unsqueeze(-1) + j * self.jump_loc.unsqueeze(-1)
        variance = k * self.scale.unsqueeze(-1) ** 2 + j * self.jump_scale.unsqueeze(-1) ** 2
        return log_weight, loc, variance

    def log_prob(self, value: Tensor) -> Tensor:  # noqa: D102
        log_weight, loc, variance = self._components()
        log_normal = -0.5 * ((value.unsqueeze(-1) - loc) ** 2 / variance + variance.log() + LOG_TWO_PI)
        return torch.logsumexp(log_weight + log_normal, -1)

    def cdf(self, value: Tensor) -> Tensor:
        """The cumulative distribution function, in float64."""
        return _mixture_cdf(value.double(), *self._double_components())

    def icdf(self, value: Tensor) -> Tensor:
        """The quantile function, by bisection in float64 (the cdf is increasing and has no closed-form inverse)."""
        components = self._double_components()
        _, loc, std = components
        low = (loc - BRACKET_STDS * std).amin(-1)
        high = (loc + BRACKET_STDS * std).amax(-1)
        target = value.double()
        for _ in range(BISECTION_STEPS):
            middle = (low + high) / 2
            below = _mixture_cdf(middle, *components) < target
            low, high = torch.where(below, middle, low), torch.where(below, high, middle)
        return ((low + high) / 2).to(self.loc.dtype)

    def _double_components(self) -> tuple[Tensor, Tensor, Tensor]:
        """Log weights, means and stds of the components, in float64."""
        log_weight, loc, variance = (t.double() for t in self._components())
        return log_weight, loc, variance.sqrt()

    @torch.no_grad()
    def sample(self, sample_shape: torch.Size = torch.Size()) -> Tensor:  # noqa: D102
        shape = self._extended_shape(sample_shape)
        count = self.count.expand(shape)
        jumps = Binomial(count, logits=self.jump_logit.expand(shape)).sample()
        std = (count * self.scale ** 2 + jumps * self.jump_scale ** 2).sqrt()
        return count * self.loc + jumps * self.jump_loc + std * torch.randn_like(std)


def _mixture_cdf(value: Tensor, log_weight: Tensor, loc: Tensor, std: Tensor) -> Tensor:
    """The cdf at ``value`` of the Gaussian mixture on the last axis of the components."""
    return (log_weight.exp() * torch.special.ndtr((value.unsqueeze(-1) - loc) / std)).sum(-1)
