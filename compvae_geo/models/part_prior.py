"""The part prior of CompVAE: the distribution the part latents are drawn from, given the multiset."""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.nn import MLP

from compvae_geo.layers import PartGroupDiagonalFactorNormal, PartNormal, PartUpdateStack, groups_of_equal_parts

from ..validation import Multisets
from .config import CompVAEConfig
from .gaussian import split_loc_scale
from .part_embedding import PartEmbedding


class PartPrior(nn.Module):
    r"""The prior over the part latents of each whole, :math:`(|V|, D)` in all.

    The paper's prior is :math:`\prod_i p(w_i \mid l_i)`, a :class:`~compvae_geo.layers.PartNormal`
    from an MLP of the part embedding :math:`e(l_i)`. Three options of :class:`CompVAEConfig`
    let it read more of the multiset, and ``reads_z`` the whole's z (each measured in ``docs/design.md``):

    - ``prior_sees_count``: each part also reads :math:`1/K`, K the number of parts of its whole;
    - ``prior_group_factor``: the parts of a whole that share a category (:math:`m_i` of them)
      also share a factor per coordinate, a
      :class:`~compvae_geo.layers.PartGroupDiagonalFactorNormal`, and each part reads :math:`1/m_i` (unless
      ``sees_count`` is False);
    - ``prior_context_layers``: each part's embedding passes through a residual
      :class:`~compvae_geo.layers.PartUpdateStack` over the parts of its whole,
      :math:`p(w_i \mid l_i, \{l_j\})` (permutation-equivariant, :math:`O(|V|)`);
    - ``reads_z``: each part also reads its whole's z, :math:`p(w_i \mid l_i, z)` (where z is drawn first).

    Args:
        config (CompVAEConfig): uses ``num_categories``, ``part_attr_dim``, ``part_embed_dim``,
            ``hidden_dim``, ``w_dim``, ``z_dim``, ``prior_scale_floor`` and the options above.
        reads_z (bool): the prior reads the z of each whole. (default: ``False``)
        build_context (bool): build the context layers now, else with :meth:`build_context`.
            (default: ``True``)
    """

    def __init__(self, config: CompVAEConfig, reads_z: bool = False, build_context: bool = True) -> None:
        super().__init__()
        c = self.config = config
        self.embedding = PartEmbedding(c.num_categories, c.part_attr_dim, c.part_embed_dim)
        self.count = nn.Linear(1, c.part_embed_dim, bias=False) if c.prior_sees_count else None
        self.group_size = nn.Linear(1, c.part_embed_dim, bias=False) if c.prior_group_factor and c.sees_count \
            else None
        self.z = nn.Linear(c.z_dim, c.part_embed_dim) if reads_z else None
        # per coordinate: a mean and a std, and with prior_group_factor the loading of the shared factor
        outputs = (3 if c.prior_group_factor else 2) * c.w_dim
        self.head = MLP([c.part_embed_dim, c.hidden_dim, outputs], norm=None)
        self.context: PartUpdateStack | None = None
        # a part's prior depends on its category (and group size) alone: computed once per distinct one
        self.per_kind = not (c.part_attr_dim or reads_z or c.prior_sees_count or c.prior_context_layers)
        if build_context:
            self.build_context()

    def build_context(self) -> None:
        """Builds the ``prior_context_layers`` layers (none if 0).

        :class:`CompVAE` builds them after the rest of the model, so that with the same seed the rest
        starts the same with or without them.
        """
        if self.config.prior_context_layers and self.context is None:
            self.context = PartUpdateStack([self.config.part_embed_dim] * (self.config.prior_context_layers + 1))

    def _embedding(self, part: Tensor, part_attr: Tensor | None, size: Tensor | None) -> Tensor:
        """e(l_i), with the 1/m_i term of ``prior_group_factor`` (``size``: m_i, the size of each part's group)."""
        embedding = self.embedding(part, part_attr)
        if self.group_size is None:
            return embedding
        return embedding + self.group_size(size.to(embedding.dtype).reciprocal().unsqueeze(-1))

    def forward(self, multisets: Multisets, z: Tensor | None = None) -> PartNormal | PartGroupDiagonalFactorNormal:
        """The prior of the parts of each whole of ``multisets``, given their z ``[num_wholes, z_dim]`` (if it reads z).

        Its arguments are not validated (a non-finite network output must give a non-finite loss, which training
        skips).
        """
        part, part_attr, batch, num_wholes = multisets.part, multisets.part_attr, multisets.batch, multisets.num_wholes
        if self.z is not None and z is None:
            raise ValueError("this part prior reads z (z first): pass the z of each whole")
        group, size = groups_of_equal_parts(part, batch) if self.config.prior_group_factor else (None, None)
        size = size if self.group_size is not None else None  # m_i, where the prior reads it
        if self.per_kind:
            kind = part if size is None else size * self.config.num_categories + part
            kinds, of_part = torch.unique(kind, return_inverse=True)
            kind_size = None if size is None else kinds // self.config.num_categories
            params = self.head(self._embedding(kinds % self.config.num_categories, None, kind_size))
            params = params.index_select(0, of_part)
        else:
            embedding = self._embedding(part, part_attr, size)
            if self.z is not None:
                embedding = embedding + self.z(z).index_select(0, batch)
            if self.count is not None:  # 1/K of each part's whole: bounded, so K beyond training stays in range
                counts = torch.bincount(batch, minlength=num_wholes).index_select(0, batch)
                embedding = embedding + self.count(counts.to(embedding.dtype).reciprocal().unsqueeze(-1))
            if self.context is not None:
                embedding = self.context(embedding, batch, num_wholes)
            params = self.head(embedding)
        if not self.config.prior_group_factor:
            loc, scale = split_loc_scale(params, self.config.prior_scale_floor)
            return PartNormal(loc, scale, batch, num_wholes, validate_args=False)
        params, loading = params.split([2 * self.config.w_dim, self.config.w_dim], dim=-1)
        loc, scale = split_loc_scale(params, self.config.prior_scale_floor)
        return PartGroupDiagonalFactorNormal(loc, scale, loading, group, batch, num_wholes, validate_args=False)
