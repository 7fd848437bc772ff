"""The correlated Gaussian posterior over the part latents of a whole (CompVAE, section 3.3)."""
from __future__ import annotations

import torch
from torch import Tensor
from torch.distributions import constraints
from torch_geometric.utils import scatter

from .joint_part_normal import JointPartNormal


class CorrelatedPartNormal(JointPartNormal):
    r"""A Gaussian over the part latents of each whole, correlated within the whole (the CompVAE posterior).

    A Gaussian over the latents :math:`w_1..w_K` of the parts of each whole whose
    parts are correlated coordinate by coordinate, so that the variance of their sum
    :math:`\tilde{w}` can be made arbitrarily small.

    For a whole with :math:`K` parts and one latent coordinate, with means :math:`\mu_i`,
    log-variances :math:`s_i` and logits :math:`r_i`:

    .. math::
        \rho_i = \frac{e^{r_i}}{1 + \sum_{j=1}^K e^{r_j}}, \qquad
        w_i = \mu_i + e^{s_i/2}\Big(\epsilon_i - \rho_i \sum_{j=1}^K \epsilon_j\Big),
        \quad \epsilon \sim \mathcal{N}(0, I)

    so :math:`\Sigma = D(I - \rho 1^\top)(I - 1 \rho^\top)D` with :math:`D = \mathrm{diag}(e^{s/2})`,
    :math:`\Sigma_{ii} = e^{s_i}(1 - 2\rho_i + K\rho_i^2)` and
    :math:`\log\det\Sigma = \sum_i s_i + 2\log(1 - \sum_i \rho_i)`, where
    :math:`\log(1 - \sum_i\rho_i) = -\log(1 + \sum_j e^{r_j})` is taken from a log-sum-exp
    that includes the extra zero logit. Coordinates are independent. Sampling, density,
    entropy and the KL divergence to :class:`PartNormal` all cost :math:`O(|V| D)`.

    The event of whole :math:`b` is the ragged set of its part latents; :meth:`log_prob`,
    :meth:`entropy` and the KL return one value per whole.

    Args:
        loc (Tensor): means :math:`\mu` :math:`(|V|, D)`.
        log_var (Tensor): log-variances :math:`s` :math:`(|V|, D)`.
        logit (Tensor): correlation logits :math:`r` :math:`(|V|, D)`.
        batch (Tensor): whole of each part :math:`(|V|)`.
        num_wholes (int, optional): number of wholes :math:`|G|`. (default: ``max(batch) + 1``)
        validate_args (bool, optional): check the arguments (see :class:`PartDistribution`).
    """

    arg_constraints = {"loc": constraints.real, "log_var": constraints.real, "logit": constraints.real}
    has_rsample = True

    def __init__(
        self, loc: Tensor, log_var: Tensor, logit: Tensor, batch: Tensor, num_wholes: int | None = None,
        validate_args: bool | None = None,
    ) -> None:
        self.loc, self.log_var, self.logit = torch.broadcast_tensors(loc, log_var, logit)
        super().__init__(batch, num_wholes, validate_args)
        self.log_normalizer = self._log_normalizer()
        self.rho = (self.logit - self.log_normalizer.index_select(0, batch)).exp()

    def _log_normalizer(self) -> Tensor:
        r""":math:`\log(1 + \sum_j e^{r_j}) = -\log(1 - \sum_j \rho_j)` per whole, :math:`(|G|, D)`."""
        shift = scatter(self.logit, self.batch, dim=0, dim_size=self.num_wholes, reduce="max").clamp_min(0.0)
        shifted = (self.logit - shift.index_select(0, self.batch)).exp()
        total = self.sum_per_whole(shifted, dim=0)
        return shift + torch.log((-shift).exp() + total)

    @property
    def mean(self) -> Tensor:
        r"""The means :math:`\mu` :math:`(|V|, D)`."""
        return self.loc

    @property
    def variance(self) -> Tensor:
        r"""Marginal variances :math:`e^{s_i}(1 - 2\rho_i + K\rho_i^2)`, :math:`(|V|, D)`."""
        k = self.num_parts().index_select(0, self.batch).unsqueeze(-1)
        return self.log_var.exp() * (1 - 2 * self.rho + k * self.rho.pow(2))

    def reparameterize(self, noise: Tensor) -> Tensor:
        r"""Maps standard normal ``noise`` :math:`\epsilon` ``(..., |V|, D)`` to latents :math:`w`."""
        noise_sum = self.sum_per_whole(noise, dim=-2)
        centred = noise - self.rho * noise_sum.index_select(-2, self.batch)
        return self.loc + (0.5 * self.log_var).exp() * centred

    def rsample(self, sample_shape: torch.Size = torch.Size()) -> Tensor:
        """Draws ``sample_shape + (|V|, D)`` latents with the reparameterisation trick."""
        return self.reparameterize(self.standard_normal(sample_shape))

    def log_det_covariance(self) -> Tensor:
        r""":math:`\sum_d \log\det\Sigma_d` per whole, :math:`(|G|)`."""
        log_var_sum = self.sum_per_whole(self.log_var.sum(-1))
        return log_var_sum - 2 * self.log_normalizer.sum(-1)

    def squared_mahalanobis(self, value: Tensor) -> Tensor:
        r"""Per whole: ``value`` ``(..., |V|, D)`` gives ``(..., |G|)``.

        Inverts the sampling map with Sherman-Morrison:
        :math:`\epsilon = y + \rho\,\frac{\sum_j y_j}{1 - \sum_j \rho_j}`, :math:`y = D^{-1}(w - \mu)`.
        """
        y = (value - self.loc) * (-0.5 * self.log_var).exp()
        y_sum = self.sum_per_whole(y, dim=-2)
        noise = y + self.rho * (y_sum * self.log_normalizer.exp()).index_select(-2, self.batch)
        return self.sum_per_whole(noise.pow(2).sum(-1))

