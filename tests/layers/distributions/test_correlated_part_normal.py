import math

import pytest
import torch
from helpers import batch_vector
from torch.distributions import MultivariateNormal, kl_divergence

from compvae_geo.layers import CorrelatedPartNormal, PartNormal

COUNTS = [1, 3, 0, 7]
DIM = 2


def make_pair(counts=COUNTS, dim=DIM, seed=0, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    n = sum(counts)
    randn = lambda *shape: torch.randn(*shape, generator=gen, dtype=dtype)  # noqa: E731
    batch = batch_vector(counts)
    q = CorrelatedPartNormal(randn(n, dim), 0.5 * randn(n, dim), randn(n, dim), batch, len(counts))
    p = PartNormal(randn(n, dim), randn(n, dim).exp(), batch, len(counts))
    return q, p


def explicit_covariances(q: CorrelatedPartNormal, b: int) -> list[torch.Tensor]:
    """The paper's covariance of whole b, one K x K per coordinate.

    The paper's covariance D (I - rho 1^T)(I - 1 rho^T) D of whole b, one K x K per coordinate,
    with rho a plain softmax over the logits and an extra zero logit.
    """
    mask = q.batch == b
    k = int(mask.sum())
    logits = q.logit[mask]
    covs = []
    for d in range(q.loc.size(-1)):
        rho = torch.softmax(torch.cat([logits[:, d], logits.new_zeros(1)]), dim=0)[:k]
        a = torch.diag((0.5 * q.log_var[mask, d]).exp()) @ (torch.eye(k, dtype=rho.dtype) - rho[:, None])
        covs.append(a @ a.T)
    return covs


def mvn_pair(q, p, b, d):
    mask = q.batch == b
    cov = explicit_covariances(q, b)[d]
    prior = MultivariateNormal(p.loc[mask, d], torch.diag(p.scale[mask, d] ** 2))
    return MultivariateNormal(q.loc[mask, d], cov), prior


def test_kl_matches_multivariate_normal_on_explicit_covariance():
    q, p = make_pair()
    kl = kl_divergence(q, p)
    assert kl.shape == (len(COUNTS),)
    for b, k in enumerate(COUNTS):
        expected = sum(kl_divergence(*mvn_pair(q, p, b, d)) for d in range(DIM)) if k else torch.tensor(0.0)
        torch.testing.assert_close(kl[b], torch.as_tensor(expected, dtype=kl.dtype), rtol=1e-9, atol=1e-9)


def test_log_prob_entropy_and_variance_match_multivariate_normal():
    q, _ = make_pair(seed=1)
    value = q.rsample()
    log_prob, entropy = q.log_prob(value), q.entropy()
    for b, k in enumerate(COUNTS):
        mask = q.batch == b
        exp_lp = sum(mvn_pair(q, q_as_p(q), b, d)[0].log_prob(value[mask, d]) for d in range(DIM)) if k else 0.0
        exp_h = sum(mvn_pair(q, q_as_p(q), b, d)[0].entropy() for d in range(DIM)) if k else 0.0
        torch.testing.assert_close(log_prob[b], torch.as_tensor(exp_lp, dtype=log_prob.dtype))
        torch.testing.assert_close(entropy[b], torch.as_tensor(exp_h, dtype=entropy.dtype))
        if k:
            diag = torch.stack([cov.diagonal() for cov in explicit_covariances(q, b)], dim=-1)
            torch.testing.assert_close(q.variance[mask], diag)


def q_as_p(q):
    return PartNormal(q.loc, q.log_var.exp().sqrt(), q.batch, q.num_wholes)


def test_kl_agrees_with_monte_carlo_estimate():
    q, p = make_pair(counts=[4, 2], dim=3, seed=2)
    torch.manual_seed(0)
    samples = q.rsample((200_000,))
    log_ratio = q.log_prob(samples) - p.log_prob(samples)  # [S, B]
    estimate, stderr = log_ratio.mean(0), log_ratio.std(0) / math.sqrt(samples.size(0))
    assert (kl_divergence(q, p) - estimate).abs().le(5 * stderr).all()


def test_empirical_covariance_matches_analytic():
    q, _ = make_pair(counts=[5], dim=1, seed=3)
    torch.manual_seed(1)
    samples = q.rsample((400_000,))[..., 0]  # [S, K]
    empirical = torch.cov(samples.T)
    analytic = explicit_covariances(q, 0)[0]
    torch.testing.assert_close(empirical, analytic, rtol=0, atol=0.02 * analytic.diagonal().max().item())
    tolerance = 0.01 * analytic.diagonal().max().sqrt().item()
    torch.testing.assert_close(samples.mean(0), q.loc[:, 0], rtol=0, atol=tolerance)


def test_variance_of_the_sum_can_be_made_small():
    k = 6
    batch = torch.zeros(k, dtype=torch.long)
    loc, log_var = torch.zeros(k, 1), torch.zeros(k, 1)
    spreads = []
    for logit in (-10.0, 0.0, 10.0):
        q = CorrelatedPartNormal(loc, log_var, torch.full((k, 1), logit), batch)
        spreads.append(q.rsample((20_000,)).sum(-2).var().item())
    assert spreads[0] > spreads[1] > spreads[2]
    assert spreads[2] < 1e-3 * spreads[0]  # equal rho -> 1/K: the sum is nearly deterministic


def test_large_logits_stay_finite_and_exact():
    batch = torch.zeros(3, dtype=torch.long)
    logit = torch.tensor([[80.0], [75.0], [-90.0]])
    q = CorrelatedPartNormal(torch.zeros(3, 1), torch.zeros(3, 1), logit, batch)
    exact = torch.logsumexp(torch.cat([logit.double(), torch.zeros(1, 1, dtype=torch.float64)]), dim=0)
    torch.testing.assert_close(q.log_normalizer.double(), exact.unsqueeze(0))
    p = PartNormal(torch.zeros(3, 1), torch.ones(3, 1), batch)
    assert torch.isfinite(kl_divergence(q, p)).all() and torch.isfinite(q.rsample()).all()
    # log(1 - sum rho) = -80.0067 although 1 - sum rho underflows to 0 in float32.
    assert float(-q.log_normalizer) == pytest.approx(-float(exact), rel=1e-6)


def test_reparameterize_matches_paper_formula():
    q, _ = make_pair(seed=4)
    noise = torch.randn(q.loc.shape, dtype=q.loc.dtype)
    w = q.reparameterize(noise)
    for b, k in enumerate(COUNTS):
        mask = q.batch == b
        if not k:
            continue
        rho = torch.softmax(torch.cat([q.logit[mask], q.logit.new_zeros(1, DIM)]), dim=0)[:k]
        expected = q.loc[mask] + (0.5 * q.log_var[mask]).exp() * (noise[mask] - rho * noise[mask].sum(0))
        torch.testing.assert_close(w[mask], expected)


def test_kl_rejects_mismatched_parts():
    q, _ = make_pair()
    other = PartNormal(torch.zeros(2, DIM), torch.ones(2, DIM), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="same parts"):
        kl_divergence(q, other)


@pytest.mark.parametrize("k", [0, 1, 2, 16, 100])
def test_kl_and_sample_gradients_are_finite(k):
    torch.manual_seed(k)
    params = [torch.randn(k, 3, requires_grad=True) for _ in range(4)]
    batch = torch.zeros(k, dtype=torch.long)
    q = CorrelatedPartNormal(params[0], params[1], params[2], batch, num_wholes=1)
    p = PartNormal(params[3], torch.ones(k, 3), batch, num_wholes=1)
    (kl_divergence(q, p).sum() + q.rsample().pow(2).sum()).backward()
    assert all(torch.isfinite(t.grad).all() for t in params)


def test_the_log_normalizer_is_the_log_sum_exp_with_the_zero_slot_even_for_extreme_logits():
    """log(1 + sum_j exp(r_j)) per whole against float64 logsumexp: logits far apart, and wholes with no parts last."""
    logit = torch.tensor([[200.0, -30.0], [-300.0, 0.5], [80.0, 90.0], [-5.0, 3.0]])
    batch, num_wholes = torch.tensor([0, 0, 1, 2]), 5  # whole 3 is empty, and so is the last one
    q = CorrelatedPartNormal(torch.zeros(4, 2), torch.zeros(4, 2), logit, batch, num_wholes)
    padded = torch.full((num_wholes, 3, 2), float("-inf"), dtype=torch.float64)
    padded[:, 0] = 0.0  # the zero slot
    slots = [1, 2, 1, 1]
    for part, (whole, slot) in enumerate(zip(batch.tolist(), slots)):
        padded[whole, slot] = logit[part].double()
    expected = torch.logsumexp(padded, dim=1).float()
    torch.testing.assert_close(q.log_normalizer, expected)
    assert torch.isfinite(q.rho).all() and (q.log_normalizer[3:] == 0).all()
