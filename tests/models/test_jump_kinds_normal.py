"""Jumps of several kinds: against torch's mixture over (kind, number of jumps), a simulation, and its noise map."""
import torch
from helpers import (
    assert_draws_like_a_simulation,
    assert_log_prob_is_the_reference_batched_or_alone,
    assert_noise_map_draws_the_law_and_abducts_back,
)
from torch.distributions import Binomial, Categorical, MixtureSameFamily, Normal

from compvae_geo.models.jump_kinds_normal import JumpKindsNormal
from compvae_geo.models.jump_normal import BinomialJumpNormal

KIND_LOGITS, JUMP_LOGITS, SIZES, SPREADS = (0.0, -1.0), (-1.5, -0.5), (11.0, 2.0), (0.3, 0.6)  # a wallbox, a kettle


def law(count):
    count = torch.as_tensor(count, dtype=torch.float64)
    like = torch.ones_like(count)

    def kinds(values):
        return torch.tensor(values, dtype=torch.float64) * like.unsqueeze(-1)

    return JumpKindsNormal(count, 0.3 * like, 0.5 * like, kinds(KIND_LOGITS), kinds(JUMP_LOGITS), kinds(SIZES),
                           kinds(SPREADS))


def reference_log_prob(k, value):
    """torch.distributions' mixture over the kind m and the number of jumps j = 0..K of that kind."""
    rho = torch.tensor(KIND_LOGITS, dtype=torch.float64).log_softmax(0)
    j = torch.arange(k + 1, dtype=torch.float64)
    weights, locs, scales = [], [], []
    for m in range(len(KIND_LOGITS)):
        weights.append(rho[m] + Binomial(k, logits=torch.tensor(JUMP_LOGITS[m], dtype=torch.float64)).log_prob(j))
        locs.append(k * 0.3 + j * SIZES[m])
        scales.append((k * 0.25 + j * SPREADS[m] ** 2) ** 0.5)
    components = Normal(torch.cat(locs), torch.cat(scales))
    return MixtureSameFamily(Categorical(logits=torch.cat(weights)), components).log_prob(value)


def test_log_prob_is_the_mixture_over_kinds_and_numbers_of_jumps_with_different_k_in_one_batch():
    assert_log_prob_is_the_reference_batched_or_alone(law, reference_log_prob, [0.2, 11.5, 2.1, 30.0])


def test_one_kind_is_the_binomial_jump_law():
    counts = torch.tensor([1.0, 6.0], dtype=torch.float64)
    like = torch.ones(2, 1, dtype=torch.float64)
    one = JumpKindsNormal(counts, 0.3 * like[:, 0], 0.5 * like[:, 0], 0 * like, -1.0 * like, 4.0 * like, 1.5 * like)
    binomial = BinomialJumpNormal(counts, *(value * like[:, 0] for value in (0.3, 0.5, -1.0, 4.0, 1.5)))
    value = torch.tensor([0.4, 12.0], dtype=torch.float64)
    torch.testing.assert_close(one.log_prob(value), binomial.log_prob(value))
    torch.testing.assert_close(one.mean, binomial.mean)
    torch.testing.assert_close(one.variance, binomial.variance)


def test_samples_have_the_moments_of_a_simulation_of_the_parts():
    torch.manual_seed(0)
    k, n = 4, 200_000
    kind = (torch.rand(n, 1) < torch.tensor(KIND_LOGITS).softmax(0)[1]).long()  # one kind per whole and element
    jumps = torch.rand(n, k) < torch.sigmoid(torch.tensor(JUMP_LOGITS)[kind])
    size = torch.tensor(SIZES)[kind] + torch.tensor(SPREADS)[kind] * torch.randn(n, k)
    simulated = (0.3 + 0.5 * torch.randn(n, k) + jumps * size).sum(-1).double()
    assert_draws_like_a_simulation(law(torch.full((n,), float(k))), simulated, 0.05, 0.15)


def test_fresh_noise_through_the_map_draws_the_law_and_abducted_noise_gives_the_value_back():
    torch.manual_seed(1)
    counts = torch.tensor([1.0, 5.0, 40.0], dtype=torch.float64).repeat(40_000)
    assert_noise_map_draws_the_law_and_abducts_back(law(counts), 3, 3, 0.2)
