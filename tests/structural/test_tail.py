"""The tail sampler against a Gaussian statistic, whose tail is known in closed form."""
import math

import pytest
import torch
from torch.distributions import Normal

from compvae_geo.structural import generate_tail
from compvae_geo.structural.subset_simulation import TailSettings, integrated_autocorrelation_time, sample_tail

DIM = 20
DIRECTION = torch.nn.functional.normalize(torch.arange(1.0, DIM + 1), dim=0)  # s = <a, xi> ~ N(0, 1)


def draw(n):
    return [torch.randn(n, DIM, dtype=torch.float64)]


def statistic(noise):
    return noise[0] @ DIRECTION.double()


@pytest.mark.parametrize("quantile", [0.99, 0.999])
def test_the_tail_of_a_gaussian_statistic_is_the_truncated_normal(quantile):
    torch.manual_seed(0)
    result = sample_tail(draw, statistic, quantile, 10_000)
    standard = Normal(0.0, 1.0)
    truth = float(standard.icdf(torch.tensor(quantile)))
    assert abs(result.threshold - truth) < max(4 * result.threshold_error, 0.02)
    assert result.threshold_error > 0
    # the statistic in the tail: quantiles of N(0, 1) truncated to s > t, t the estimated level the chains keep
    s = result.statistic
    assert s.shape == (10_000,) and (s > result.threshold).all()
    above = 1 - float(standard.cdf(torch.tensor(result.threshold)))
    for level in (0.25, 0.5, 0.75, 0.95):
        expected = float(standard.icdf(torch.tensor(1 - above * (1 - level))))
        density = float(standard.log_prob(torch.tensor(expected)).exp()) / above  # of the truncated law
        standard_error = math.sqrt(level * (1 - level) / result.effective_samples) / density
        assert abs(float(s.quantile(level)) - expected) < 4 * standard_error
    # across the statistic, the noise keeps its standard-normal law
    xi = result.noise[0]
    orthogonal = xi - (xi @ DIRECTION.double())[:, None] * DIRECTION.double()
    assert abs(float(orthogonal.pow(2).sum(-1).mean()) - (DIM - 1)) < 0.1 * (DIM - 1)
    # far cheaper than rejection (1 / (1 - q) evaluations per sample)
    cost = result.evaluations / result.effective_samples
    assert cost < 0.2 / (1 - quantile)
    assert 0 < result.chain_evaluations < result.evaluations and result.chain_evaluations >= 10_000
    assert 0.1 < result.acceptance < 0.9


def test_integrated_autocorrelation_time():
    torch.manual_seed(0)
    assert integrated_autocorrelation_time(torch.randn(50, 400)) == pytest.approx(1.0, abs=0.15)
    rho, chains = 0.8, torch.zeros(50, 2000)  # AR(1): tau = (1 + rho) / (1 - rho) = 9
    for t in range(1, 2000):
        chains[:, t] = rho * chains[:, t - 1] + math.sqrt(1 - rho**2) * torch.randn(50)
    assert integrated_autocorrelation_time(chains[:, 200:]) == pytest.approx(9.0, rel=0.2)


def test_bad_settings_are_clear_errors():
    with pytest.raises(ValueError, match="quantile must be in"):
        sample_tail(draw, statistic, 1.0, 10)
    with pytest.raises(ValueError, match="population >= 10 per replicate"):
        TailSettings(population=20, replicates=4)
    with pytest.raises(ValueError, match="level_probability"):
        TailSettings(level_probability=1.5)


# ----- on a CompVAE --------------------------------------------------------------------------

def tiny_model(**options):
    from dataclasses import replace

    from compvae_geo import CompVAE, CompVAEConfig
    torch.manual_seed(0)
    config = CompVAEConfig(obs_shape=(12,), w_dim=3, z_dim=2, hidden_dim=16, x_feature_dim=8, part_embed_dim=4,
                           num_update_layers=1)
    return CompVAE(replace(config, **options)).eval()


@pytest.mark.parametrize("options", [{}, dict(prior_group_factor=True), dict(z_first=True),
                                     dict(z_first=True, prior_group_factor=True)],
                         ids=["paper", "group_prior", "z_first", "z_first_group_prior"])
def test_wholes_from_noise_is_generate_with_its_draws_made_explicit(options):
    model = tiny_model(**options)
    c = model.config
    parts, samples = torch.tensor([1, 4, 4, 0]), 6
    torch.manual_seed(1)
    generated = model.generate(parts, samples)
    torch.manual_seed(1)  # the same draws in generate's order
    if c.z_first:
        z = torch.randn(samples, c.z_dim)
        shared = torch.randn(samples * 3, c.w_dim) if c.prior_group_factor else None
        own = torch.randn(samples * 4, c.w_dim)
    else:
        shared = torch.randn(samples, 3, c.w_dim) if c.prior_group_factor else None
        own = torch.randn(samples, 4, c.w_dim)
        z = torch.randn(samples, c.z_dim)
    noise = model.generation_noise(parts, samples)
    noise.z, noise.own = z, own.reshape(samples, 4, c.w_dim)
    noise.shared = None if shared is None else shared.reshape(samples, 3, c.w_dim)
    torch.testing.assert_close(model.wholes_from_noise(parts, noise), generated)


def test_generate_tail_returns_wholes_above_the_estimated_quantile():
    model = tiny_model(z_first=True, prior_group_factor=True)
    torch.manual_seed(2)
    tail = generate_tail(model, [1, 4, 4], 300, quantile=0.99, observation_noise=True,
                               settings=TailSettings(population=400, chains=50))
    assert tail.wholes.shape == (300, 12)
    torch.testing.assert_close(tail.statistic, tail.wholes.amax(-1))
    assert (tail.statistic > tail.threshold).all() and tail.threshold_error > 0
    plain = model.generate(torch.tensor([1, 4, 4]), 4000, observation_noise=True).amax(-1)
    # 1 % of the model's own wholes lie above it: 3 standard errors of the share, the threshold within 3 of its own
    margin = 3 * (0.01 * 0.99 / plain.numel()) ** 0.5
    assert float((plain > tail.threshold - 3 * tail.threshold_error).float().mean()) > 0.01 - margin
    assert float((plain > tail.threshold + 3 * tail.threshold_error).float().mean()) < 0.01 + margin
    assert tail.evaluations > 400 and 0 < tail.effective_samples <= 300
    energy = generate_tail(model, [2], 10, statistic=lambda x: x.sum(-1), quantile=0.9,
                                 settings=TailSettings(population=200, chains=10))
    assert (energy.wholes.sum(-1) > energy.threshold).all()
    with pytest.raises(ValueError, match="unknown statistic 'peek'"):
        generate_tail(model, [2], 10, statistic="peek")
