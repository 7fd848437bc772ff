import math

import pytest
import torch

from compvae_geo.evaluation.metrics import (
    energy_distance,
    mean_power_spectrum,
    median_distance,
    mmd2_permutation_test,
    mmd2_unbiased,
    spectrum_distance,
)


def test_mmd_is_near_zero_for_identical_distributions_and_positive_for_shifted():
    generator = torch.Generator().manual_seed(0)
    a, b = torch.randn(400, 5, generator=generator), torch.randn(400, 5, generator=generator)
    shifted = torch.randn(400, 5, generator=generator) + 1.0
    bandwidth = median_distance(a)
    same = mmd2_unbiased(a, b, bandwidth)
    assert abs(float(same)) < 0.01
    assert float(mmd2_unbiased(shifted, a, bandwidth)) > 10 * max(abs(float(same)), 1e-3)


def test_mmd_matches_the_definition_on_a_tiny_case():
    x, y = torch.tensor([[0.0], [1.0]]), torch.tensor([[0.0], [3.0]])
    k = lambda u, v: torch.exp(torch.tensor(-((u - v) ** 2) / 2.0))  # noqa: E731  bandwidth 1
    expected = k(0, 1) + k(0, 3) - 2 * (k(0, 0) + k(0, 3) + k(1, 0) + k(1, 3)) / 4
    torch.testing.assert_close(mmd2_unbiased(x, y, 1.0).float(), expected.float())


def test_median_distance():
    points = torch.tensor([[0.0], [1.0], [3.0]])  # distances 1, 2, 3
    assert float(median_distance(points)) == 2.0


def test_mmd_matches_its_closed_form_for_shifted_gaussians():
    # X ~ N(0, s^2 I), Y ~ N(delta, s^2 I) in d dims, RBF bandwidth h:
    # MMD^2 = 2 (h^2 / (h^2 + 2 s^2))^(d/2) (1 - exp(-|delta|^2 / (2 (h^2 + 2 s^2))))
    generator = torch.Generator().manual_seed(3)
    d, h, shift = 3, 2.0, 1.5
    x = torch.randn(3000, d, generator=generator, dtype=torch.float64)
    y = torch.randn(3000, d, generator=generator, dtype=torch.float64) + torch.tensor([shift, 0.0, 0.0])
    expected = 2 * (h**2 / (h**2 + 2)) ** (d / 2) * (1 - math.exp(-(shift**2) / (2 * (h**2 + 2))))
    assert abs(float(mmd2_unbiased(x, y, h)) - expected) < 0.1 * expected


def test_energy_distance_matches_its_closed_form_for_shifted_gaussians():
    # 1D, X ~ N(0, 1), Y ~ N(mu, 1): X - Y ~ N(-mu, 2), E|X - X'| = 2 / sqrt(pi)
    generator = torch.Generator().manual_seed(4)
    mu = 1.0
    x = torch.randn(4000, 1, generator=generator, dtype=torch.float64)
    y = torch.randn(4000, 1, generator=generator, dtype=torch.float64) + mu
    sigma = math.sqrt(2)
    mean_abs = (sigma * math.sqrt(2 / math.pi) * math.exp(-(mu**2) / (2 * sigma**2))
                + mu * math.erf(mu / (sigma * math.sqrt(2))))
    expected = 2 * mean_abs - 2 * 2 / math.sqrt(math.pi)
    assert abs(float(energy_distance(x, y)) - expected) < 0.1 * expected
    same = energy_distance(x, torch.randn(4000, 1, generator=generator, dtype=torch.float64))
    assert abs(float(same)) < 0.1 * expected


def test_permutation_p_value_is_small_for_shifted_and_uniform_under_the_null():
    generator = torch.Generator().manual_seed(5)
    x = torch.randn(60, 4, generator=generator)
    shifted = torch.randn(60, 4, generator=generator) + 1.0
    mmd2, pvalue = mmd2_permutation_test(x, shifted, median_distance(x), 99, generator)
    assert pvalue == 1 / 100 and float(mmd2) > 0
    pvalues = [mmd2_permutation_test(torch.randn(30, 4, generator=generator), torch.randn(30, 4, generator=generator),
                                     1.0, 49, generator)[1] for _ in range(40)]
    assert all(1 / 50 <= p <= 1 for p in pvalues)
    assert 0.35 < sum(p <= 0.5 for p in pvalues) / len(pvalues) < 0.65  # about half, as a uniform p-value
    assert sum(p <= 0.05 for p in pvalues) <= 6  # expected 2 of 40


def test_power_spectrum_peaks_at_the_sine_frequency_and_distance_is_relative():
    t = torch.arange(200, dtype=torch.float64)
    cycles = 7
    curves = torch.cos(2 * math.pi * cycles * t / 200 + torch.rand(16, 1, dtype=torch.float64) * 6)
    spectrum = mean_power_spectrum(curves)
    assert spectrum.shape == (101,) and int(spectrum.argmax()) == cycles
    assert float(spectrum_distance(curves, curves)) == 0.0
    other = torch.cos(2 * math.pi * 20 * t / 200).expand(16, -1)
    assert abs(float(spectrum_distance(other, curves)) - 2.0) < 1e-6  # same power, disjoint frequencies
    with pytest.raises(ValueError, match=r"\[n, T\]"):
        mean_power_spectrum(torch.zeros(2, 3, 4))


def test_two_sample_distances_refuse_tiny_or_mismatched_samples():
    with pytest.raises(ValueError, match="at least two"):
        energy_distance(torch.zeros(1, 3), torch.zeros(5, 3))
    with pytest.raises(ValueError, match="different shapes"):
        mmd2_unbiased(torch.zeros(4, 3), torch.zeros(4, 2), 1.0)
