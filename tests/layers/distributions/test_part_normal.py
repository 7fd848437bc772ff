import torch
from helpers import batch_vector
from torch.distributions import Normal

from compvae_geo.layers import PartNormal


def test_log_prob_and_entropy_sum_independent_normals_per_whole():
    torch.manual_seed(0)
    counts = [2, 0, 3]
    loc, scale = torch.randn(5, 4), torch.rand(5, 4) + 0.1
    p = PartNormal(loc, scale, batch_vector(counts), len(counts))
    value = p.rsample((7,))
    assert value.shape == (7, 5, 4)
    reference = Normal(loc, scale)
    per_part_lp = reference.log_prob(value).sum(-1)
    expected = torch.stack([per_part_lp[:, :2].sum(-1), torch.zeros(7), per_part_lp[:, 2:].sum(-1)], dim=-1)
    torch.testing.assert_close(p.log_prob(value), expected)
    h = reference.entropy().sum(-1)
    torch.testing.assert_close(p.entropy(), torch.stack([h[:2].sum(), torch.tensor(0.0), h[2:].sum()]))


def test_samples_have_the_mean_and_std_of_each_coordinate():
    torch.manual_seed(1)
    loc, scale = torch.tensor([[1.0, -2.0], [0.5, 3.0]]), torch.tensor([[0.5, 2.0], [1.0, 0.1]])
    draws = PartNormal(loc, scale, batch_vector([2]), 1).rsample((40_000,))
    torch.testing.assert_close(draws.mean(0), loc, atol=0.05, rtol=0)
    torch.testing.assert_close(draws.std(0), scale, atol=0, rtol=0.03)
