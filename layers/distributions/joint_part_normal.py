"""The base of Gaussians over all the part latents of each whole, correlated within the whole."""
from __future__ import annotations

import math

from torch import Tensor

from .part_distribution import PartDistribution


class JointPartNormal(PartDistribution):
    r"""A Gaussian over all the part latents of each whole, from two per-whole quantities.

    A Gaussian over the :math:`K D` latents of the parts of each whole, defined by two
    per-whole quantities a subclass computes in :math:`O(|V|)`: the squared Mahalanobis distance
    :math:`(w - \mu)^\top \Sigma^{-1} (w - \mu)` (:meth:`squared_mahalanobis`) and
    :math:`\log\det\Sigma` (:meth:`log_det_covariance`). From them, per whole:

    .. math::
        \log p(w) = -\tfrac{1}{2}\big(\text{squared} + K D \log 2\pi + \log\det\Sigma\big), \qquad
        H = \tfrac{1}{2}\big(K D \log 2\pi e + \log\det\Sigma\big).
    """

    def squared_mahalanobis(self, value: Tensor) -> Tensor:
        """Per whole, ``value`` ``(..., |V|, D)`` gives ``(..., |G|)``."""
        raise NotImplementedError

    def log_det_covariance(self) -> Tensor:
        r""":math:`\log\det\Sigma` of each whole's latents, :math:`(|G|)`."""
        raise NotImplementedError

    def _dims(self) -> Tensor:
        """:math:`K D`, the number of latent coordinates of each whole, :math:`(|G|)`."""
        return self.num_parts() * self.loc.size(-1)

    def log_prob(self, value: Tensor) -> Tensor:
        """Log-density per whole: ``value`` ``(..., |V|, D)`` gives ``(..., |G|)``."""
        self._validate_value(value)
        squared = self.squared_mahalanobis(value)
        return -0.5 * (squared + self._dims() * math.log(2 * math.pi) + self.log_det_covariance())

    def entropy(self) -> Tensor:
        """Entropy per whole, :math:`(|G|)`."""
        return 0.5 * (self._dims() * math.log(2 * math.pi * math.e) + self.log_det_covariance())
