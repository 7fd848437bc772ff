import torch

from compvae_geo.metrics import median_distance, mmd2_unbiased


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
