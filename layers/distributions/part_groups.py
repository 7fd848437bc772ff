"""Groups of parts within wholes (for instance the parts of a whole that share a category)."""
from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.utils import scatter


def groups_of_equal_parts(part: Tensor, batch: Tensor) -> tuple[Tensor, Tensor]:
    r"""Groups the parts of each whole by category.

    The group of each part :math:`(|V|)`, numbered from 0, and the size of its group :math:`(|V|)` (how many parts of
    its whole share its category).
    """
    key = batch * (int(part.max()) + 1) + part if part.numel() else part  # one integer per (whole, category)
    _, group, size = torch.unique(key, return_inverse=True, return_counts=True)
    return group, size.index_select(0, group)


class PartGroups:
    r"""Groups of parts within wholes and the per-group sums over them.

    Which group each part is in (groups numbered from 0, each within one whole), and the
    per-group sums that densities with a factor shared inside a group need.

    Args:
        group (Tensor): group of each part :math:`(|V|)`.
        batch (Tensor): whole of each part :math:`(|V|)`.
        num_wholes (int): number of wholes :math:`|G|`.
    """

    def __init__(self, group: Tensor, batch: Tensor, num_wholes: int) -> None:
        if group.shape != batch.shape:
            raise ValueError(f"need one group per part: group {tuple(group.shape)}, batch {tuple(batch.shape)}")
        self.group, self.num_wholes = group, num_wholes
        self.num_groups = int(group.max()) + 1 if group.numel() else 0
        self.whole = batch.new_zeros(self.num_groups).scatter_(0, group, batch)  # the whole of each group

    def sum_per_group(self, per_part: Tensor, dim: int = -1) -> Tensor:
        """Sums ``per_part`` over the parts of each group along ``dim`` (of size :math:`|V|`)."""
        return scatter(per_part, self.group, dim=dim, dim_size=self.num_groups, reduce="sum")

    def group_sum_per_whole(self, per_group: Tensor, dim: int = -1) -> Tensor:
        """Sums ``per_group`` over the groups of each whole along ``dim`` (of size the number of groups)."""
        return scatter(per_group, self.whole, dim=dim, dim_size=self.num_wholes, reduce="sum")
