"""The law of a sum of K jumping Gaussian parts: against an explicit mixture, a simulation of the parts, and itself."""
import torch
from helpers import (
    assert_draws_like_a_simulation,
    assert_log_prob_is_the_reference_batched_or_alone,
    assert_noise_map_draws_the_law_and_abducts_back,
)
from torch.distributions import Binomial, Categorical, MixtureSameFamily, Normal

from compvae_geo.models.jump_normal import BinomialJumpNormal
from compvae_geo.models.observation_noise import noise_of_whole, whole_from_noise


def law(count, loc=0.3, scale=0.5, jump_logit=-1.0, jump_loc=4.0, jump_scale=1.5):
    count = torch.as_tensor(count, dtype=torch.float64)
    like = torch.ones_like(count)
    return BinomialJumpNormal(count, loc * like, scale * like, jump_logit * like, jump_loc * like, jump_scale * like)


def reference_log_prob(k, value, loc=0.3, scale=0.5, jump_logit=-1.0, jump_loc=4.0, jump_scale=1.5):
    """torch.distributions' own mixture over the number of jumps j = 0..K."""
    j = torch.arange(k + 1, dtype=torch.float64)
    weights = Binomial(k, logits=torch.tensor(jump_logit, dtype=torch.float64)).log_prob(j)
    components = Normal(k * loc + j * jump_loc, (k * scale ** 2 + j * jump_scale ** 2) ** 0.5)
    return MixtureSameFamily(Categorical(logits=weights), components).log_prob(value)


def test_log_prob_is_the_mixture_over_the_number_of_jumps_even_with_different_k_in_one_batch():
    assert_log_prob_is_the_reference_batched_or_alone(law, reference_log_prob, [0.2, 9.0, 5.1, 30.0])


def test_one_part_is_a_two_component_mixture():
    value = torch.linspace(-3, 9, 7, dtype=torch.float64)
    p = torch.sigmoid(torch.tensor(-1.0, dtype=torch.float64))
    expected = torch.logaddexp((1 - p).log() + Normal(0.3, 0.5).log_prob(value),
                               p.log() + Normal(4.3, (0.25 + 2.25) ** 0.5).log_prob(value))
    torch.testing.assert_close(law(torch.ones(7)).log_prob(value), expected)


def test_samples_have_the_moments_of_a_simulation_of_the_parts():
    torch.manual_seed(0)
    k, n = 5, 200_000
    jumps = torch.rand(n, k) < torch.sigmoid(torch.tensor(-1.0))
    parts = 0.3 + 0.5 * torch.randn(n, k) + jumps * (4.0 + 1.5 * torch.randn(n, k))
    assert_draws_like_a_simulation(law(torch.full((n,), float(k))), parts.sum(-1).double(), 0.03, 0.1)


def test_cdf_integrates_the_density():
    grid = torch.linspace(-8, 25, 20001, dtype=torch.float64)
    density = law(torch.full_like(grid, 2.0)).log_prob(grid).exp()
    integral = torch.cumulative_trapezoid(density, grid)
    torch.testing.assert_close(law(torch.full_like(grid[1:], 2.0)).cdf(grid[1:]), integral, atol=1e-6, rtol=0)


def test_the_noise_map_is_the_affine_one_for_a_gaussian():
    normal = Normal(torch.tensor([1.0, -2.0]), torch.tensor([0.5, 3.0]))
    eps = torch.tensor([0.7, -1.2])
    torch.testing.assert_close(whole_from_noise(normal, eps), normal.loc + normal.scale * eps)
    torch.testing.assert_close(noise_of_whole(normal, whole_from_noise(normal, eps)), eps)


def test_fresh_noise_through_the_map_draws_the_law_and_abducted_noise_gives_the_value_back():
    torch.manual_seed(1)
    counts = torch.tensor([1.0, 5.0, 40.0], dtype=torch.float64).repeat(40_000)
    assert_noise_map_draws_the_law_and_abducts_back(law(counts), 3, 2, 0.15)


def test_a_sum_of_many_parts_tends_to_the_gaussian_of_its_moments():
    def gap(count):
        dist = law(torch.tensor([count]))
        value = dist.mean + dist.stddev * torch.tensor([-1.5, 0.0, 1.5], dtype=torch.float64)
        return (dist.log_prob(value) - Normal(dist.mean, dist.stddev).log_prob(value)).abs().max()

    gaps = [gap(count) for count in (4.0, 64.0, 1024.0)]
    assert gaps[0] > gaps[1] > gaps[2] and gaps[2] < 0.02, gaps


def test_the_cdf_of_a_batch_of_wholes_is_that_of_each_whole():
    counts = torch.tensor([[1.0], [4.0]], dtype=torch.float64)  # one K per whole, broadcast over its elements
    value = torch.tensor([[0.5, 3.0, 9.0], [2.0, 6.0, 20.0]], dtype=torch.float64)
    whole = law(counts.expand(-1, 3))
    for b in range(2):
        torch.testing.assert_close(whole.cdf(value)[b], law(counts[b].expand(3)).cdf(value[b]))
