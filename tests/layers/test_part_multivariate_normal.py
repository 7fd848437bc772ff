import pytest
import torch
from torch.distributions import MultivariateNormal

from compvae_geo.layers import PartMultivariateNormal, PartNormal
from helpers import batch_vector

COUNTS = [2, 0, 3]


def random_factors(num_parts: int, dim: int) -> torch.Tensor:
    raw = torch.randn(num_parts, dim, dim).tril(-1)
    return raw + torch.diag_embed(torch.rand(num_parts, dim) + 0.2)


def test_log_prob_and_entropy_sum_full_covariance_normals_per_whole():
    torch.manual_seed(0)
    loc, scale_tril = torch.randn(5, 3), random_factors(5, 3)
    p = PartMultivariateNormal(loc, scale_tril, batch_vector(COUNTS), len(COUNTS))
    value = p.rsample((4,))
    assert value.shape == (4, 5, 3)
    reference = MultivariateNormal(loc, scale_tril=scale_tril)
    per_part = reference.log_prob(value)
    expected = torch.stack([per_part[:, :2].sum(-1), torch.zeros(4), per_part[:, 2:].sum(-1)], dim=-1)
    torch.testing.assert_close(p.log_prob(value), expected)
    h = reference.entropy()
    torch.testing.assert_close(p.entropy(), torch.stack([h[:2].sum(), torch.tensor(0.0), h[2:].sum()]))
    torch.testing.assert_close(p.variance, reference.variance)


def test_samples_have_the_requested_mean_and_covariance():
    torch.manual_seed(1)
    loc, scale_tril = torch.randn(2, 3), random_factors(2, 3)
    p = PartMultivariateNormal(loc, scale_tril, torch.tensor([0, 0]))
    draws = p.sample((200_000,))
    torch.testing.assert_close(draws.mean(0), loc, atol=0.02, rtol=0)
    centred = draws - loc
    empirical = torch.einsum("npi,npj->pij", centred, centred) / draws.size(0)
    torch.testing.assert_close(empirical, p.covariance_matrix, atol=0.03, rtol=0.03)


def test_a_diagonal_factor_is_the_independent_part_normal():
    torch.manual_seed(2)
    loc, scale = torch.randn(5, 4), torch.rand(5, 4) + 0.1
    batch = batch_vector(COUNTS)
    full = PartMultivariateNormal(loc, torch.diag_embed(scale), batch, len(COUNTS))
    diagonal = PartNormal(loc, scale, batch, len(COUNTS))
    value = torch.randn(7, 5, 4)
    torch.testing.assert_close(full.log_prob(value), diagonal.log_prob(value))


def test_bad_shapes_raise_a_clear_error():
    with pytest.raises(ValueError, match="scale_tril"):
        PartMultivariateNormal(torch.zeros(3, 2), torch.eye(2).expand(2, 2, 2), torch.zeros(3, dtype=torch.long))
