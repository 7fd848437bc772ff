r"""The law of a sum of K jumping parts whose jumps, element by element, are of one of several kinds."""
from __future__ import annotations

import torch
from torch import Tensor
from torch.distributions import Categorical, Distribution, constraints

from .jump_normal import BinomialJumpNormal, discrete_quantile, noise_within_step

KIND_NOISES = 1  # standard-normal noises per element that choose the kind, before the jump law's own


class JumpKindsNormal(Distribution):
    r"""A mixture over M kinds of :class:`~compvae_geo.models.jump_normal.BinomialJumpNormal`, element by element.

    At each element the jumps of the whole's K parts are all of one kind m, chosen with probability :math:`\rho_m`;
    given the kind, the sum is the binomial jump law of that kind's probability, size and spread:

    .. math::
        p(x) = \sum_{m=1}^{M} \rho_m\, \mathrm{BinomialJumpNormal}(x;\ K, \mu, \sigma, \pi_m, a_m, s_m).

    For one part this is a Gaussian level with jumps of M kinds (an 11 kW wallbox and a 2 kW kettle told apart, which
    one Gaussian jump size cannot do); the log-likelihood stays exact, the cost is M times the binomial law's.

    Args:
        count (Tensor): K per whole, broadcastable to the other parameters without their kind axis.
        loc (Tensor): :math:`\mu`, one part's level, ``[*batch_shape]``.
        scale (Tensor): :math:`\sigma > 0`, ``[*batch_shape]``.
        kind_logits (Tensor): the logits of :math:`\rho`, ``[*batch_shape, M]``.
        jump_logit (Tensor): :math:`\operatorname{logit} \pi_m`, ``[*batch_shape, M]``.
        jump_loc (Tensor): :math:`a_m`, ``[*batch_shape, M]``.
        jump_scale (Tensor): :math:`s_m > 0`, ``[*batch_shape, M]``.
    """

    arg_constraints: dict = {}
    support = constraints.real
    has_rsample = False

    def __init__(self, count: Tensor, loc: Tensor, scale: Tensor, kind_logits: Tensor, jump_logit: Tensor,
                 jump_loc: Tensor, jump_scale: Tensor) -> None:
        self.kind_logits = kind_logits.log_softmax(-1)
        self.kinds = BinomialJumpNormal(count.unsqueeze(-1), loc.unsqueeze(-1), scale.unsqueeze(-1), jump_logit,
                                        jump_loc, jump_scale)  # one law per kind, on a last axis of M
        super().__init__(self.kinds.batch_shape[:-1], validate_args=False)

    @property
    def kind_probs(self) -> Tensor:
        r""":math:`\rho`, ``[*batch_shape, M]``."""
        return self.kind_logits.exp()

    @property
    def mean(self) -> Tensor:  # noqa: D102
        return (self.kind_probs * self.kinds.mean).sum(-1)

    @property
    def variance(self) -> Tensor:  # noqa: D102
        rho, mean = self.kind_probs, self.kinds.mean
        return (rho * (self.kinds.variance + mean ** 2)).sum(-1) - self.mean ** 2

    def _log_joint(self, value: Tensor) -> Tensor:
        """The log-density of (value, kind m) for every kind, ``[*batch_shape, M]``."""
        return self.kind_logits + self.kinds.log_prob(value.unsqueeze(-1))

    def log_prob(self, value: Tensor) -> Tensor:  # noqa: D102
        return torch.logsumexp(self._log_joint(value), -1)

    @torch.no_grad()
    def sample(self, sample_shape: torch.Size = torch.Size()) -> Tensor:  # noqa: D102
        kind = Categorical(logits=self.kind_logits).sample(sample_shape).unsqueeze(-1)
        return self.kinds.sample(sample_shape).gather(-1, kind).squeeze(-1)

    # ----- the law as a map of standard-normal noise (the structural view of the model) -----

    def from_noise(self, noise: Tensor) -> Tensor:
        r"""The value that standard-normal ``noise`` ``[*batch_shape, 1 + 2]`` gives.

        The kind is the categorical quantile at :math:`\Phi(\eta_0)`, then the kind's jump law maps the other two
        noises (:meth:`~compvae_geo.models.jump_normal.BinomialJumpNormal.from_noise`).
        """
        kind = discrete_quantile(self._kind_cdf(), noise[..., 0])
        rest = noise[..., KIND_NOISES:].unsqueeze(-2).expand(*self.kinds.batch_shape, -1)
        return self.kinds.from_noise(rest).gather(-1, kind).squeeze(-1)

    @torch.no_grad()
    def abduct(self, value: Tensor) -> Tensor:
        """Standard-normal noise ``[*batch_shape, 1 + 2]`` drawn from its posterior given ``value``.

        The kind from its posterior given the value, the first noise uniformly within that kind's step of the kinds'
        cdf, the others the kind's jump law's (:meth:`~compvae_geo.models.jump_normal.BinomialJumpNormal.abduct`):
        :meth:`from_noise` gives ``value`` back.
        """
        kind = Categorical(logits=self._log_joint(value)).sample().unsqueeze(-1)
        rest = self.kinds.abduct(value.unsqueeze(-1).expand(self.kinds.batch_shape))
        rest = rest.gather(-2, kind.unsqueeze(-1).expand(*kind.shape, rest.size(-1))).squeeze(-2)
        return torch.cat([noise_within_step(self._kind_cdf(), kind).to(value.dtype), rest], -1)

    def _kind_cdf(self) -> Tensor:
        """The cdf of the kind, ``[*batch_shape, M]`` (float64)."""
        return self.kind_probs.double().cumsum(-1)
