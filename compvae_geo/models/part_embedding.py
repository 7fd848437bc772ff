"""Embedding of a part from its category and optional continuous descriptors."""
from __future__ import annotations

from torch import Tensor, nn


class PartEmbedding(nn.Module):
    """e(l): ``Embedding(category) + Linear(part_attr)``, ``[N]`` (+ ``[N, F]``) to ``[N, out_dim]``."""

    def __init__(self, num_categories: int, part_attr_dim: int, out_dim: int) -> None:
        super().__init__()
        self.category = nn.Embedding(num_categories, out_dim)
        self.attr = nn.Linear(part_attr_dim, out_dim) if part_attr_dim > 0 else None

    def forward(self, part: Tensor, part_attr: Tensor | None = None) -> Tensor:
        """Categories ``[N]`` (and descriptors ``[N, F]``) to embeddings ``[N, out_dim]``."""
        out = self.category(part)
        if self.attr is not None:
            out = out + self.attr(part_attr)
        return out
