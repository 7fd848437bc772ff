"""A generation prior fitted to the aggregate posterior of the part latents."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from compvae_geo.layers import PartMultivariateNormal, PartUpdateStack

from .config import CompVAEConfig
from .gaussian import floored_scale
from .part_embedding import PartEmbedding


class FittedPartPrior(nn.Module):
    r""":math:`p^*(w_i \mid l_i, \{l_j\})`: for each part a full-covariance Gaussian that depends on
    its own description and on the rest of its multiset, fitted by maximum likelihood to the part
    latents the posterior draws (:meth:`CompVAE.loss` stops their gradient, so the fit never moves
    the posterior or the ELBO).

    Why: the paper's prior :math:`p(w_i \mid l_i)` is one diagonal Gaussian per part description,
    shared by every multiset; the posterior's latents for the same part differ with the company it
    keeps and bend along the part's hidden variables, so independent draws from that prior fall
    where the decoder was never trained. This prior reads the multiset through the same
    :class:`~compvae_geo.layers.PartUpdateStack` as the posterior (a set function, so it
    stays permutation-equivariant and :math:`O(K)`) and has a full covariance per part.

    Args:
        config (CompVAEConfig): sizes; uses ``part_embed_dim``, ``hidden_dim``,
            ``num_update_layers``, ``w_dim`` and ``prior_scale_floor``.
    """

    def __init__(self, config: CompVAEConfig) -> None:
        super().__init__()
        c = self.config = config
        self.embedding = PartEmbedding(c.num_categories, c.part_attr_dim, c.part_embed_dim)
        dims = [c.part_embed_dim] + [c.hidden_dim] * c.num_update_layers
        self.context = PartUpdateStack(dims)
        self.register_buffer("tril_index", torch.tril_indices(c.w_dim, c.w_dim, offset=-1), persistent=False)
        self.head = nn.Linear(dims[-1], 2 * c.w_dim + self.tril_index.size(1))  # mean, raw diagonal, below it
        with torch.no_grad():  # start with the same scale everywhere, uncorrelated: a random Cholesky factor
            self.head.weight[c.w_dim:].zero_()  # can make the first log-likelihoods overflow, and a
            self.head.bias[c.w_dim:].zero_()  # step that is not finite is skipped, so none would follow

    def forward(self, part: Tensor, part_attr: Tensor | None, batch: Tensor, num_wholes: int) -> PartMultivariateNormal:
        h = self.context(self.embedding(part, part_attr), batch, num_wholes)
        d = self.config.w_dim
        loc, raw_diagonal, below = self.head(h).split([d, d, self.tril_index.size(1)], dim=-1)
        strictly_lower = below.new_zeros(below.shape[:-1] + (d, d))
        strictly_lower[:, self.tril_index[0], self.tril_index[1]] = below
        scale_tril = torch.diag_embed(floored_scale(raw_diagonal, self.config.prior_scale_floor)) + strictly_lower
        return PartMultivariateNormal(loc, scale_tril, batch, num_wholes)
