"""The terms of the CompVAE loss (paper eq. 4), shared by every model."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Generic, TypeVar

from torch import Tensor

BITS_PER_NAT = 1 / math.log(2)

Value = TypeVar("Value", Tensor, float)


@dataclass
class LossTerms(Generic[Value]):
    """L_w, L_z and L_x.

    Per whole ``[B]`` tensors in nats from a model's ``loss``, or their means in bits per whole (:meth:`mean_bits`, what
    logs and evaluations report).
    """

    w: Value  # L_w = KL(q({w_i} | x, z, {l_i}) || p({w_i} | {l_i})) (0 for a model without part latents)
    z: Value  # L_z = log q(z | x) - log p(z | w~), at the sampled z
    x: Value  # L_x = -log p(x | z, w~)

    @property
    def elbo(self) -> Value:
        """The negative evidence lower bound L_w + L_z + L_x (to minimise)."""
        return self.w + self.z + self.x

    def mean_bits(self) -> LossTerms[float]:
        """The mean of each term over the wholes, in bits per whole."""
        return LossTerms(*(float(term.mean()) * BITS_PER_NAT for term in (self.w, self.z, self.x)))
