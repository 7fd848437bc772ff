r"""The law of a sum of K parts, each a Gaussian with a jump that occurs at random, element by element."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.distributions import Binomial, Distribution, constraints

LOG_TWO_PI = math.log(2 * math.pi)
NOISES = 2  # standard-normal noises per element in the structural view: the number of jumps', the level's
UNIFORM_MARGIN = 1e-12  # keeps a uniform drawn within a binomial step off 0 and 1 (finite normal quantiles)


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

    def _log_joint(self, value: Tensor, components: tuple[Tensor, Tensor, Tensor]) -> Tensor:
        """The log-density of (value, j jumps) for every j, on the components' last axis."""
        log_weight, loc, variance = components
        return log_weight - 0.5 * ((value.unsqueeze(-1) - loc) ** 2 / variance + variance.log() + LOG_TWO_PI)

    def log_prob(self, value: Tensor) -> Tensor:  # noqa: D102
        return torch.logsumexp(self._log_joint(value, self._components()), -1)

    def cdf(self, value: Tensor) -> Tensor:
        """The cumulative distribution function, in float64."""
        log_weight, loc, variance = (t.double() for t in self._components())
        return (log_weight.exp() * torch.special.ndtr((value.double().unsqueeze(-1) - loc) / variance.sqrt())).sum(-1)

    @torch.no_grad()
    def sample(self, sample_shape: torch.Size = torch.Size()) -> Tensor:  # noqa: D102
        shape = self._extended_shape(sample_shape)
        count = self.count.expand(shape)
        jumps = Binomial(count, logits=self.jump_logit.expand(shape)).sample()
        std = (count * self.scale ** 2 + jumps * self.jump_scale ** 2).sqrt()
        return count * self.loc + jumps * self.jump_loc + std * torch.randn_like(std)


    # ----- the law as a map of standard-normal noise (the structural view of the model) -----

    def from_noise(self, noise: Tensor) -> Tensor:
        r"""The value that standard-normal ``noise`` ``[*batch_shape, 2]`` gives.

        The number of jumps is the binomial quantile at :math:`\Phi(\eta_0)`, then the level
        :math:`K\mu + j a + \sqrt{K\sigma^2 + j s^2}\, \eta_1`: fresh noise gives draws of the law.
        """
        log_weight, loc, variance = self._components()
        jumps = discrete_quantile(_binomial_cdf(log_weight), noise[..., 0])
        return (loc.gather(-1, jumps) + variance.gather(-1, jumps).sqrt() * noise[..., 1:]).squeeze(-1)

    @torch.no_grad()
    def abduct(self, value: Tensor) -> Tensor:
        """Standard-normal noise ``[*batch_shape, 2]`` drawn from its posterior given ``value``.

        The number of jumps from its posterior given the value, the first noise uniformly within that number's
        binomial step, the second the level's residual: :meth:`from_noise` gives ``value`` back, and the noise
        abducted from draws of the law is standard normal.
        """
        components = self._components()
        log_weight, loc, variance = components
        jumps = torch.distributions.Categorical(logits=self._log_joint(value, components)).sample().unsqueeze(-1)
        level = (value.unsqueeze(-1) - loc.gather(-1, jumps)) / variance.gather(-1, jumps).sqrt()
        return torch.cat([noise_within_step(_binomial_cdf(log_weight), jumps).to(value.dtype), level], -1)


def discrete_quantile(cdf: Tensor, noise: Tensor) -> Tensor:
    r"""The index ``[..., 1]`` whose step of ``cdf`` ``[..., C]`` holds :math:`\Phi(\eta)`, ``noise`` :math:`\eta`."""
    index = (cdf < torch.special.ndtr(noise.double()).unsqueeze(-1)).sum(-1, keepdim=True)
    return index.clamp(max=cdf.size(-1) - 1)  # rounding at the top


def noise_within_step(cdf: Tensor, index: Tensor) -> Tensor:
    """A standard-normal noise ``[..., 1]`` uniform (in probability) within the step ``index`` of ``cdf``.

    The inverse of :func:`discrete_quantile`: it maps the noise back to ``index``, and for an index drawn from the
    cdf's own law the noise is standard normal.
    """
    high = cdf.gather(-1, index)
    low = torch.where(index > 0, cdf.gather(-1, (index - 1).clamp(min=0)), torch.zeros_like(high))
    uniform = (low + (high - low) * torch.rand_like(low)).clamp(UNIFORM_MARGIN, 1 - UNIFORM_MARGIN)
    return torch.special.ndtri(uniform)


def _binomial_cdf(log_weight: Tensor) -> Tensor:
    """The cdf of the number of jumps at j = 0..max K (float64), from the components' log weights."""
    return log_weight.double().exp().cumsum(-1)
