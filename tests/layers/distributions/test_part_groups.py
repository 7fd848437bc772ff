"""Groups of equal parts within wholes, and the sums per group and per whole."""
import torch
from helpers import batch_vector

from compvae_geo.layers import groups_of_equal_parts
from compvae_geo.layers.distributions.part_groups import PartGroups


def test_equal_categories_in_different_wholes_are_different_groups():
    counts = [2, 2, 2, 2]  # more wholes than categories: no two (whole, category) pairs may share a key
    part = torch.tensor([0, 1, 1, 1, 1, 0, 0, 0])
    group, size = groups_of_equal_parts(part, batch_vector(counts))
    pairs = list(zip(batch_vector(counts).tolist(), part.tolist(), strict=True))
    for i in range(len(pairs)):
        for j in range(len(pairs)):
            assert (group[i] == group[j]) == (pairs[i] == pairs[j])
    torch.testing.assert_close(size, torch.tensor([1, 1, 2, 2, 1, 1, 2, 2]))


def test_no_parts_make_no_groups():
    group, size = groups_of_equal_parts(torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long))
    assert group.numel() == 0 and size.numel() == 0
    assert PartGroups(group, torch.zeros(0, dtype=torch.long), 2).num_groups == 0


def test_sums_keep_trailing_empty_groups_and_wholes():
    batch = batch_vector([2, 1, 0])  # the last whole is empty
    group, _ = groups_of_equal_parts(torch.tensor([1, 1, 0]), batch)
    groups = PartGroups(group, batch, 3)
    per_group = groups.sum_per_group(torch.tensor([1.0, 2.0, 4.0]))
    torch.testing.assert_close(per_group, torch.tensor([3.0, 4.0]))
    torch.testing.assert_close(groups.group_sum_per_whole(per_group), torch.tensor([3.0, 4.0, 0.0]))
