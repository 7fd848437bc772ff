import pytest
import torch
from torch.distributions import Categorical, Independent, MixtureSameFamily, Normal, kl_divergence

from compvae_geo import CompVAE
from compvae_geo.layers import CorrelatedPartNormal, PartMixtureNormal, PartNormal
from helpers import batch_vector

COUNTS = [2, 0, 3]


def random_mixture(num_parts=5, components=3, dim=4, seed=0):
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(num_parts, components, generator=gen)
    loc = 2 * torch.randn(num_parts, components, dim, generator=gen)
    scale = torch.rand(num_parts, components, dim, generator=gen) + 0.2
    return logits, loc, scale


def test_log_prob_is_a_mixture_per_part_summed_per_whole():
    logits, loc, scale = random_mixture()
    p = PartMixtureNormal(logits, loc, scale, batch_vector(COUNTS), len(COUNTS))
    value = torch.randn(7, 5, 4) * 2
    reference = MixtureSameFamily(Categorical(logits=logits), Independent(Normal(loc, scale), 1)).log_prob(value)
    expected = torch.stack([reference[:, :2].sum(-1), torch.zeros(7), reference[:, 2:].sum(-1)], dim=-1)
    torch.testing.assert_close(p.log_prob(value), expected)


def test_equal_components_reduce_to_part_normal():
    _, loc, scale = random_mixture(components=1)
    batch = batch_vector(COUNTS)
    mixture = PartMixtureNormal(torch.randn(5, 4), loc.expand(-1, 4, -1), scale.expand(-1, 4, -1), batch, len(COUNTS))
    gaussian = PartNormal(loc[:, 0], scale[:, 0], batch, len(COUNTS))
    value = gaussian.rsample((3,))
    torch.testing.assert_close(mixture.log_prob(value), gaussian.log_prob(value))
    torch.testing.assert_close(mixture.mean, gaussian.mean)
    torch.testing.assert_close(mixture.variance, gaussian.variance)


def test_samples_match_the_mixture_moments_and_weights():
    torch.manual_seed(0)
    logits, loc, scale = random_mixture(num_parts=2, components=3, dim=2, seed=1)
    p = PartMixtureNormal(logits, loc, scale, torch.tensor([0, 0]))
    draws = p.sample((200_000,))
    assert draws.shape == (200_000, 2, 2)
    torch.testing.assert_close(draws.mean(0), p.mean, atol=0.03, rtol=0)
    torch.testing.assert_close(draws.var(0), p.variance, atol=0.0, rtol=0.03)
    # The share of draws nearest each component mean follows the weights (components far apart).
    far = PartMixtureNormal(logits[:1], torch.tensor([[[-50.0], [0.0], [50.0]]]), torch.ones(1, 3, 1), torch.tensor([0]))
    nearest = (far.sample((100_000,))[:, 0] - far.loc[0, :, 0]).abs().argmin(-1)
    share = torch.bincount(nearest, minlength=3) / nearest.numel()
    torch.testing.assert_close(share, far.weights[0], atol=0.01, rtol=0)


def test_empty_wholes_and_bad_shapes():
    p = PartMixtureNormal(torch.zeros(0, 3), torch.zeros(0, 3, 2), torch.ones(0, 3, 2), torch.zeros(0, dtype=torch.long), 2)
    assert p.sample((4,)).shape == (4, 0, 2)
    torch.testing.assert_close(p.log_prob(torch.zeros(4, 0, 2)), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="logits"):
        PartMixtureNormal(torch.zeros(3, 2), torch.zeros(3, 4, 2), torch.ones(3, 4, 2), torch.zeros(3, dtype=torch.long))


def test_kl_estimate_is_unbiased_against_the_closed_form():
    """CompVAE's L_w for a mixture prior, -H[q] - log p(w), averaged over draws of q, equals the
    closed-form KL when the mixture's components coincide (a Gaussian prior in disguise)."""
    torch.manual_seed(0)
    batch = torch.tensor([0, 0, 0, 1])
    q = CorrelatedPartNormal(torch.randn(4, 2), 0.3 * torch.randn(4, 2), torch.randn(4, 2), batch)
    loc, scale = torch.randn(4, 2), torch.rand(4, 2) + 0.5
    gaussian = PartNormal(loc, scale, batch)
    mixture = PartMixtureNormal(torch.randn(4, 3), loc[:, None].expand(-1, 3, -1), scale[:, None].expand(-1, 3, -1), batch)
    estimates = CompVAE.part_kl(q, mixture, q.rsample((200_000,)))
    exact = kl_divergence(q, gaussian)
    standard_error = estimates.std(0) / estimates.size(0) ** 0.5
    assert ((estimates.mean(0) - exact).abs() < 5 * standard_error).all()
    torch.testing.assert_close(CompVAE.part_kl(q, gaussian, q.rsample()), exact)
