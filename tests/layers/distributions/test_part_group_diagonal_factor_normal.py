import pytest
import torch
from helpers import batch_vector
from torch.distributions import MultivariateNormal, kl_divergence

from compvae_geo.layers import CorrelatedPartNormal, PartGroupDiagonalFactorNormal, PartNormal, groups_of_equal_parts

COUNTS = [3, 0, 1, 5]
PART = torch.tensor([2, 5, 2, 7, 1, 1, 4, 1, 4])  # whole 0: {2, 5, 2}; whole 2: {7}; whole 3: {1, 1, 4, 1, 4}
WHOLE_PARTS = [slice(0, 3), None, slice(3, 4), slice(4, 9)]
DIM = 3


def make_prior(seed: int = 0, dtype=torch.float64, loading_scale: float = 1.0) -> PartGroupDiagonalFactorNormal:
    gen = torch.Generator().manual_seed(seed)
    n = PART.numel()
    randn = lambda: torch.randn(n, DIM, generator=gen, dtype=dtype)  # noqa: E731
    batch = batch_vector(COUNTS)
    group, _ = groups_of_equal_parts(PART, batch)
    return PartGroupDiagonalFactorNormal(randn(), (0.5 * randn()).exp(), loading_scale * randn(), group, batch,
                                         len(COUNTS))


def make_posterior(seed: int = 1, dtype=torch.float64) -> CorrelatedPartNormal:
    gen = torch.Generator().manual_seed(seed)
    randn = lambda: torch.randn(PART.numel(), DIM, generator=gen, dtype=dtype)  # noqa: E731
    return CorrelatedPartNormal(randn(), 0.5 * randn(), randn(), batch_vector(COUNTS), len(COUNTS))


def dense_prior_covariance(p: PartGroupDiagonalFactorNormal, parts: slice) -> torch.Tensor:
    """Cov(w_id, w_je) of one whole's latents, flattened part-major, entry by entry from the definition."""
    idx = range(parts.start, parts.stop)
    cov = torch.zeros(len(idx) * DIM, len(idx) * DIM, dtype=p.loc.dtype)
    for a, i in enumerate(idx):
        for b, j in enumerate(idx):
            for d in range(DIM):
                shared = p.loading[i, d] * p.loading[j, d] if p.group[i] == p.group[j] else 0.0
                own = p.scale[i, d] ** 2 if i == j else 0.0
                cov[a * DIM + d, b * DIM + d] = shared + own
    return cov


def dense_posterior_covariance(q: CorrelatedPartNormal, parts: slice) -> torch.Tensor:
    """Q's covariance S (I - rho 1^T)(I - 1 rho^T) S per coordinate, flattened part-major."""
    k = parts.stop - parts.start
    cov = torch.zeros(k * DIM, k * DIM, dtype=q.loc.dtype)
    for d in range(DIM):
        rho = torch.softmax(torch.cat([q.logit[parts, d], q.logit.new_zeros(1)]), dim=0)[:k]
        a = torch.diag((0.5 * q.log_var[parts, d]).exp()) @ (torch.eye(k, dtype=rho.dtype) - rho[:, None])
        cov[d::DIM, d::DIM] = a @ a.T
    return cov


def test_log_prob_and_entropy_match_the_dense_gaussian_of_each_whole():
    p = make_prior()
    value = p.rsample((4,))
    assert value.shape == (4, PART.numel(), DIM)
    log_prob, entropy = p.log_prob(value), p.entropy()
    for b, parts in enumerate(WHOLE_PARTS):
        if parts is None:
            assert (log_prob[:, b] == 0).all() and entropy[b] == 0
            continue
        dense = MultivariateNormal(p.loc[parts].flatten(), dense_prior_covariance(p, parts))
        torch.testing.assert_close(log_prob[:, b], dense.log_prob(value[:, parts].flatten(1)))
        torch.testing.assert_close(entropy[b], dense.entropy())
    torch.testing.assert_close(p.variance, torch.cat([dense_prior_covariance(p, s).diagonal().view(-1, DIM)
                                                      for s in WHOLE_PARTS if s is not None]))


def test_kl_from_the_posterior_matches_the_dense_gaussians():
    q, p = make_posterior(), make_prior(3)
    kl = kl_divergence(q, p)
    assert kl.shape == (len(COUNTS),)
    for b, parts in enumerate(WHOLE_PARTS):
        if parts is None:
            assert kl[b] == 0
            continue
        dense_q = MultivariateNormal(q.loc[parts].flatten(), dense_posterior_covariance(q, parts))
        dense_p = MultivariateNormal(p.loc[parts].flatten(), dense_prior_covariance(p, parts))
        torch.testing.assert_close(kl[b], kl_divergence(dense_q, dense_p))


def test_without_loading_it_is_part_normal():
    p = make_prior(4, loading_scale=0.0)
    independent = PartNormal(p.loc, p.scale, p.batch, p.num_wholes)
    value = torch.randn(2, PART.numel(), DIM, dtype=torch.float64)
    torch.testing.assert_close(p.log_prob(value), independent.log_prob(value))
    torch.testing.assert_close(p.entropy(), independent.entropy())
    q = make_posterior(5)
    torch.testing.assert_close(kl_divergence(q, p), kl_divergence(q, independent))


def test_samples_share_the_factor_within_a_group_only():
    p = make_prior(6, dtype=torch.float32)
    draws = p.sample((200_000,))
    centred = (draws - p.loc).flatten(1)
    empirical = centred.T @ centred / draws.size(0)
    whole = WHOLE_PARTS[3]
    flat = slice(whole.start * DIM, whole.stop * DIM)
    torch.testing.assert_close(empirical[flat, flat], dense_prior_covariance(p, whole), atol=0.05, rtol=0.03)
    assert empirical[: 3 * DIM, 3 * DIM:].abs().max() < 0.05  # wholes are independent


def test_log_prob_and_kl_do_not_depend_on_the_order_of_the_parts_or_the_group_numbers():
    p, q = make_prior(7), make_posterior(8)
    value = p.rsample((2,))
    perm = torch.tensor([2, 0, 1, 3, 8, 5, 4, 6, 7])  # within wholes
    relabel = p.group.max() - p.group
    shuffled_p = PartGroupDiagonalFactorNormal(p.loc[perm], p.scale[perm], p.loading[perm], relabel[perm],
                                               p.batch[perm], p.num_wholes)
    shuffled_q = CorrelatedPartNormal(q.loc[perm], q.log_var[perm], q.logit[perm], q.batch[perm], q.num_wholes)
    torch.testing.assert_close(shuffled_p.log_prob(value[:, perm]), p.log_prob(value))
    torch.testing.assert_close(kl_divergence(shuffled_q, shuffled_p), kl_divergence(q, p))


def test_kl_gradients_are_finite():
    q, p = make_posterior(9, torch.float32), make_prior(10, torch.float32)
    for tensor in (q.loc, p.loc, p.scale, p.loading):
        tensor.requires_grad_(True)
    kl = kl_divergence(CorrelatedPartNormal(q.loc, q.log_var, q.logit, q.batch, q.num_wholes),
                       PartGroupDiagonalFactorNormal(p.loc, p.scale, p.loading, p.group, p.batch, p.num_wholes))
    kl.sum().backward()
    assert all(torch.isfinite(t.grad).all() for t in (q.loc, p.loc, p.scale, p.loading))


def test_bad_shapes_raise_a_clear_error():
    loc = torch.zeros(3, 2)
    batch = torch.zeros(3, dtype=torch.long)
    with pytest.raises(ValueError, match="loading"):
        PartGroupDiagonalFactorNormal(loc, torch.ones(3, 2), torch.zeros(3, 4), batch, batch)
    with pytest.raises(ValueError, match="one group per part"):
        PartGroupDiagonalFactorNormal(loc, torch.ones(3, 2), torch.zeros(3, 2), batch[:2], batch)
    q = CorrelatedPartNormal(torch.zeros(2, 2), torch.zeros(2, 2), torch.zeros(2, 2), batch[:2], 1)
    with pytest.raises(ValueError, match="same parts"):
        kl_divergence(q, PartGroupDiagonalFactorNormal(loc, torch.ones(3, 2), torch.zeros(3, 2), batch, batch))


def tiled(p: PartGroupDiagonalFactorNormal, copies: int) -> PartGroupDiagonalFactorNormal:
    """The same wholes ``copies`` times over, each copy with groups and wholes of its own."""
    offsets = torch.arange(copies).repeat_interleave(p.loc.size(0))
    return PartGroupDiagonalFactorNormal(
        p.loc.repeat(copies, 1), p.scale.repeat(copies, 1), p.loading.repeat(copies, 1),
        p.group.repeat(copies) + offsets * p.groups.num_groups, p.batch.repeat(copies) + offsets * p.num_wholes,
        copies * p.num_wholes)


def test_from_noise_of_the_abducted_noise_gives_back_the_latents():
    p = make_prior(13)
    value = p.sample()
    own, shared = p.abduct(value)
    assert shared.shape == (p.groups.num_groups, DIM)
    torch.testing.assert_close(p.from_noise(own, shared), value)


def conditional_draws(p: PartGroupDiagonalFactorNormal, known: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """The parts not known given the known ones, as recompose draws them.

    The noises abducted from the known parts alone, fresh own noise for the others (fresh shared noise for groups
    with no known part).
    """
    part_of_known = PartGroupDiagonalFactorNormal(p.loc[known], p.scale[known], p.loading[known], p.group[known],
                                                  p.batch[known], p.num_wholes)
    own_known, shared_known = part_of_known.abduct(value[known])
    shared = torch.randn(p.groups.num_groups, DIM, dtype=value.dtype)
    shared[: shared_known.size(0)] = torch.where(part_of_known.group_precision > 1, shared_known,
                                                 shared[: shared_known.size(0)])
    own = torch.randn_like(value)
    own[known] = own_known
    return p.from_noise(own, shared)


def test_abducting_known_parts_and_redrawing_the_others_draws_the_dense_gaussian_conditional():
    torch.manual_seed(0)
    p = make_prior(11, dtype=torch.float64)
    known = torch.zeros(PART.numel(), dtype=torch.bool)
    known[[0, 4, 6]] = True  # whole 0: one of its two 2s; whole 3: a 1 and a 4
    value = p.sample()
    copies = 40_000
    draws = conditional_draws(tiled(p, copies), known.repeat(copies), value.repeat(copies, 1)).view(copies, -1, DIM)
    torch.testing.assert_close(draws[:, known], value[known].expand(copies, -1, -1))
    for parts in (WHOLE_PARTS[0], WHOLE_PARTS[3]):
        cov = dense_prior_covariance(p, parts)
        inside = known[parts].repeat_interleave(DIM)
        a, b = inside.nonzero()[:, 0], (~inside).nonzero()[:, 0]
        gain = cov[b][:, a] @ torch.linalg.inv(cov[a][:, a])
        mean = p.loc[parts].flatten()[b] + gain @ (value[parts].flatten()[a] - p.loc[parts].flatten()[a])
        conditional = cov[b][:, b] - gain @ cov[a][:, b]
        drawn = draws[:, parts].flatten(1)[:, b]
        standard_error = conditional.diagonal().sqrt() / copies**0.5
        assert ((drawn.mean(0) - mean).abs() < 5 * standard_error).all()
        centred = drawn - drawn.mean(0)
        scale = conditional.diagonal().sqrt()
        error = (centred.T @ centred / copies - conditional) / (scale[:, None] * scale[None, :])
        assert error.abs().max() < 0.03  # the standard error of a correlation is 1 / sqrt(copies) = 0.005
