import pytest
import torch
from torch.distributions import MultivariateNormal

from compvae_geo.layers import PartGroupFactorNormal, PartMultivariateNormal, groups_of_equal_parts
from helpers import batch_vector

COUNTS = [3, 0, 1, 4]
PART = torch.tensor([2, 5, 2, 7, 1, 1, 4, 1])  # whole 0: {2, 5, 2}; whole 2: {7}; whole 3: {1, 1, 4, 1}
DIM, FACTORS = 3, 2


def random_factors(num_parts: int, dim: int) -> torch.Tensor:
    raw = torch.randn(num_parts, dim, dim).tril(-1)
    return raw + torch.diag_embed(torch.rand(num_parts, dim) + 0.3)


def make_distribution(seed: int = 0, factors: int = FACTORS) -> PartGroupFactorNormal:
    torch.manual_seed(seed)
    batch = batch_vector(COUNTS)
    group, _ = groups_of_equal_parts(PART, batch)
    n = PART.numel()
    return PartGroupFactorNormal(torch.randn(n, DIM), random_factors(n, DIM), torch.randn(n, DIM, factors),
                                 group, batch, len(COUNTS))


def dense_covariance(p: PartGroupFactorNormal, parts: slice) -> torch.Tensor:
    """The covariance of one whole's latents, built entry block by entry block from the definition."""
    idx = range(parts.start, parts.stop)
    blocks = [[p.loading[i] @ p.loading[j].T * (p.group[i] == p.group[j]) for j in idx] for i in idx]
    for k, i in enumerate(idx):
        blocks[k][k] = blocks[k][k] + p.scale_tril[i] @ p.scale_tril[i].T
    return torch.cat([torch.cat(row, dim=1) for row in blocks], dim=0)


WHOLE_PARTS = [slice(0, 3), None, slice(3, 4), slice(4, 8)]


def test_groups_gather_the_parts_of_a_whole_that_share_a_category():
    group, size = groups_of_equal_parts(PART, batch_vector(COUNTS))
    assert group[0] == group[2] and group[4] == group[5] == group[7]
    assert len({int(g) for g in group}) == 5  # {2, 2}, {5}, {7}, {1, 1, 1}, {4}
    assert size.tolist() == [2, 1, 2, 1, 3, 3, 1, 3]
    other_whole = groups_of_equal_parts(torch.tensor([3, 3]), torch.tensor([0, 1]))[0]
    assert other_whole[0] != other_whole[1]  # equal categories in different wholes do not share


def test_log_prob_and_entropy_match_the_dense_gaussian_of_each_whole():
    p = make_distribution()
    p = PartGroupFactorNormal(p.loc.double(), p.scale_tril.double(), p.loading.double(), p.group, p.batch,
                              p.num_wholes)  # exact enough to compare with the dense oracle at 1e-7
    value = p.rsample((5,))
    assert value.shape == (5, PART.numel(), DIM)
    expected_log_prob, expected_entropy = [], []
    for parts in WHOLE_PARTS:
        if parts is None:
            expected_log_prob.append(torch.zeros(5, dtype=torch.float64))
            expected_entropy.append(torch.tensor(0.0, dtype=torch.float64))
            continue
        dense = MultivariateNormal(p.loc[parts].flatten(), dense_covariance(p, parts))
        expected_log_prob.append(dense.log_prob(value[:, parts].flatten(1)))
        expected_entropy.append(dense.entropy())
    torch.testing.assert_close(p.log_prob(value), torch.stack(expected_log_prob, -1))
    torch.testing.assert_close(p.entropy(), torch.stack(expected_entropy))
    torch.testing.assert_close(p.variance, torch.cat([dense_covariance(p, s).diagonal().view(-1, DIM)
                                                      for s in WHOLE_PARTS if s is not None]))


def test_samples_share_the_factor_within_a_group_only():
    p = make_distribution(1)
    draws = p.sample((200_000,))
    centred = (draws - p.loc).flatten(1)
    empirical = centred.T @ centred / draws.size(0)
    for parts in WHOLE_PARTS[2:]:
        flat = slice(parts.start * DIM, parts.stop * DIM)
        torch.testing.assert_close(empirical[flat, flat], dense_covariance(p, parts), atol=0.05, rtol=0.03)
    assert empirical[: 3 * DIM, 3 * DIM:].abs().max() < 0.05  # wholes are independent


def test_without_loading_it_is_the_product_of_the_parts_gaussians():
    p = make_distribution(2, factors=0)
    independent = PartMultivariateNormal(p.loc, p.scale_tril, p.batch, p.num_wholes)
    value = torch.randn(4, PART.numel(), DIM)
    torch.testing.assert_close(p.log_prob(value), independent.log_prob(value))
    torch.testing.assert_close(p.entropy(), independent.entropy())


def test_log_prob_does_not_depend_on_the_order_of_the_parts_or_the_group_numbers():
    p = make_distribution(3)
    value = p.rsample((2,))
    perm = torch.tensor([2, 0, 1, 3, 7, 5, 4, 6])  # within wholes
    relabel = p.group.max() - p.group
    shuffled = PartGroupFactorNormal(p.loc[perm], p.scale_tril[perm], p.loading[perm], relabel[perm],
                                     p.batch[perm], p.num_wholes)
    torch.testing.assert_close(shuffled.log_prob(value[:, perm]), p.log_prob(value))


def test_bad_shapes_raise_a_clear_error():
    loc, tril = torch.zeros(3, 2), torch.eye(2).expand(3, 2, 2)
    batch = torch.zeros(3, dtype=torch.long)
    with pytest.raises(ValueError, match="loading"):
        PartGroupFactorNormal(loc, tril, torch.zeros(3, 4, 1), batch, batch)
    with pytest.raises(ValueError, match="one group per part"):
        PartGroupFactorNormal(loc, tril, torch.zeros(3, 2, 1), batch[:2], batch)
