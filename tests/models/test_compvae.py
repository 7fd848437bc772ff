from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F
from helpers import dense_update_stack, from_padded, sine_batch, to_padded
from torch.distributions import MultivariateNormal, Normal
from torch_geometric.data import Batch, Data

from compvae_geo import CompVAE, CompVAEConfig, LatentNoise
from compvae_geo.datasets import SineParts
from compvae_geo.validation import Multisets

PROBLEM = SineParts(length=20)
CONFIG = CompVAEConfig(
    obs_shape=PROBLEM.obs_shape, w_dim=4, z_dim=3, hidden_dim=32, x_feature_dim=8, part_embed_dim=5, num_update_layers=2
)
COUNTS = [3, 1, 0, 5, 2]


PRIOR_VARIANTS = {"gaussian_prior": {}, "count_prior": dict(prior_sees_count=True),
                  "group_prior": dict(prior_group_factor=True),
                  "context_prior": dict(prior_context_layers=2, prior_group_factor=True, prior_sees_count=True)}


@pytest.fixture(params=list(PRIOR_VARIANTS.values()), ids=list(PRIOR_VARIANTS))
def model(request):
    torch.manual_seed(0)
    return CompVAE(replace(CONFIG, **request.param))


def make_batch(counts=COUNTS, seed=0):
    return sine_batch(PROBLEM, CONFIG.num_categories, counts, seed)


def dense_loss(model: CompVAE, data: Batch, noise: LatentNoise, counts: list[int]):
    """CompVAE's forward math on zero-padded wholes, with the paper's softmax and explicit covariances."""
    c = model.config
    soft = lambda raw, floor: floor + F.softplus(raw)  # noqa: E731
    features = model.x_encoder(data.whole)
    z_loc, z_raw = model.z_posterior(features).chunk(2, -1)
    z_scale = soft(z_raw, c.posterior_scale_floor)
    z = z_loc + z_scale * noise.z
    nodes, mask = to_padded(model.node_embedding(data.part) + c.node_noise_std * noise.node, counts)
    k_max = nodes.size(1)
    per_node_x = features[:, None].expand(-1, k_max, -1)
    h = torch.cat([per_node_x, z[:, None].expand(-1, k_max, -1), nodes, per_node_x * model.node_gate(nodes)], -1)
    h = dense_update_stack(model.part_updates, h, mask)
    loc, log_var, logit = model.w_posterior(h).chunk(3, -1)
    logit = logit.masked_fill(~mask[..., None], float("-inf"))
    rho = torch.softmax(torch.cat([logit, logit.new_zeros(len(counts), 1, c.w_dim)], 1), dim=1)[:, :k_max]
    eps, _ = to_padded(noise.w, counts)
    w = loc + (0.5 * log_var).exp() * (eps - rho * eps.sum(1, keepdim=True))
    w_tilde = torch.cat([(w * mask[..., None]).sum(1), mask.sum(1, keepdim=True).float()], dim=-1)
    prior_input = model.part_prior.embedding(data.part)
    if c.prior_sees_count:  # p(w_i | l_i, K) reads 1/K through a bias-free linear map
        parts_of_whole = torch.tensor(counts).repeat_interleave(torch.tensor(counts)).float()
        prior_input = prior_input + model.part_prior.count.weight[:, 0] / parts_of_whole[:, None]
    if c.prior_group_factor:  # ... and 1/m_i, m_i the number of parts of its whole with its category
        same = [(p == data.part[start:start + k]).sum() for start, k in zip(data.ptr[:-1], counts)
                for p in data.part[start:start + k]]
        prior_input = prior_input + model.part_prior.group_size.weight[:, 0] / torch.stack(same).float()[:, None]
    if c.prior_context_layers:  # p(w_i | l_i, {l_j}): the prior's part embeddings read the rest of the whole
        padded_input, _ = to_padded(prior_input, counts)
        prior_input = from_padded(dense_update_stack(model.part_prior.context, padded_input, mask), mask)
    prior_params = model.part_prior.head(prior_input)
    prior_loading = torch.zeros(sum(counts), c.w_dim)
    if c.prior_group_factor:
        prior_params, prior_loading = prior_params.split([2 * c.w_dim, c.w_dim], -1)
    prior_loc, prior_raw = prior_params.chunk(2, -1)
    prior_scale = soft(prior_raw, c.prior_scale_floor)
    loss_w = []
    for b, k in enumerate(counts):
        kl = torch.tensor(0.0)
        start = sum(counts[:b])
        for d in range(c.w_dim):
            if not k:
                continue
            a = torch.diag((0.5 * log_var[b, :k, d]).exp()) @ (torch.eye(k) - rho[b, :k, d, None])
            posterior = MultivariateNormal(loc[b, :k, d], a @ a.T)
            # with a group prior, Cov(w_id, w_jd) = b_id b_jd for equal parts
            loading = prior_loading[start:start + k, d]
            equal = data.part[start:start + k, None] == data.part[None, start:start + k]
            prior_cov = torch.diag(prior_scale[start:start + k, d] ** 2) + equal * loading[:, None] * loading[None]
            prior = MultivariateNormal(prior_loc[start:start + k, d], prior_cov)
            kl = kl + torch.distributions.kl_divergence(posterior, prior)
        loss_w.append(kl)
    z_prior_loc, z_prior_raw = model.z_prior.net(w_tilde).chunk(2, -1)
    z_prior = Normal(z_prior_loc, soft(z_prior_raw, c.prior_scale_floor))
    loss_z = (Normal(z_loc, z_scale).log_prob(z) - z_prior.log_prob(z)).sum(-1)
    x_loc, x_raw = model.observation.decoder.net(torch.cat([z, w_tilde], -1)).chunk(2, -1)
    loss_x = -Normal(x_loc, soft(x_raw, c.observation_scale_floor)).log_prob(data.whole).sum(-1)
    return torch.stack(loss_w), loss_z, loss_x, w_tilde, from_padded(loc, mask)


def test_loss_matches_dense_oracle(model):
    data = make_batch()
    torch.manual_seed(1)
    noise = LatentNoise.sample(CONFIG, len(COUNTS), sum(COUNTS))
    terms = model.loss(data, noise)
    posterior = model.encode(data, noise)
    w_tilde = model.sum_parts(posterior.w_dist.reparameterize(noise.w), data.batch, len(COUNTS))
    loss_w, loss_z, loss_x, dense_w_tilde, dense_w_loc = dense_loss(model, data, noise, COUNTS)
    close = dict(rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(posterior.w_dist.loc, dense_w_loc, **close)
    torch.testing.assert_close(w_tilde, dense_w_tilde, **close)
    torch.testing.assert_close(terms.w, loss_w, **close)
    torch.testing.assert_close(terms.z, loss_z, **close)
    torch.testing.assert_close(terms.x, loss_x, **close)
    assert terms.w[COUNTS.index(0)] == 0 and terms.elbo.shape == (len(COUNTS),)


def test_batched_loss_equals_one_whole_at_a_time(model):
    data = make_batch(seed=2)
    noise = LatentNoise.sample(CONFIG, len(COUNTS), sum(COUNTS))
    batched = model.loss(data, noise)
    starts = data.ptr.tolist()
    for b, single in enumerate(data.to_data_list()):
        part_slice = slice(starts[b], starts[b + 1])
        one = LatentNoise(noise.z[b : b + 1], noise.node[part_slice], noise.w[part_slice])
        alone = model.loss(single, one)
        for key in ("w", "z", "x"):
            torch.testing.assert_close(getattr(alone, key)[0], getattr(batched, key)[b], rtol=1e-4, atol=1e-4)


def test_permuting_parts_permutes_w_and_keeps_w_tilde_kl_and_loss(model):
    data = make_batch(counts=[6], seed=3)
    noise = LatentNoise.sample(CONFIG, 1, 6)
    perm = torch.tensor([3, 0, 5, 1, 4, 2])
    shuffled = Data(part=data.part[perm], whole=data.whole, num_nodes=6)
    shuffled_noise = LatentNoise(noise.z, noise.node[perm], noise.w[perm])
    post, post_shuffled = model.encode(data, noise), model.encode(shuffled, shuffled_noise)
    close = dict(rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(post_shuffled.w_dist.loc, post.w_dist.loc[perm], **close)
    w = post.w_dist.reparameterize(noise.w)
    w_shuffled = post_shuffled.w_dist.reparameterize(shuffled_noise.w)
    torch.testing.assert_close(w_shuffled, w[perm], **close)
    torch.testing.assert_close(model.sum_parts(w_shuffled), model.sum_parts(w), **close)
    a, b = model.loss(data, noise), model.loss(shuffled, shuffled_noise)
    for key in ("w", "z", "x"):
        torch.testing.assert_close(getattr(a, key), getattr(b, key), **close)


@pytest.mark.parametrize("k", [0, 1, 2, 16, 100])
def test_gradients_are_finite(model, k):
    data = make_batch(counts=[k, max(k - 1, 0)], seed=k)
    model.loss(data).elbo.mean().backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert model.observation.decoder.net.lins[0].weight.grad.abs().sum() > 0


def test_generate_shapes_empty_multiset_and_many_parts(model):
    assert model.generate(torch.tensor([1, 1, 4]), num_samples=6).shape == (6, 20)
    assert model.generate(torch.zeros(0, dtype=torch.long), num_samples=2).shape == (2, 20)
    many = model.generate(torch.randint(0, 10, (10_000,)), num_samples=2)
    assert many.shape == (2, 20) and torch.isfinite(many).all()
    out = model.generate([torch.tensor([0]), torch.tensor([2, 3])], num_samples=3)
    assert [o.shape for o in out] == [(3, 20), (3, 20)]
    torch.manual_seed(0)
    mean = model.generate(torch.tensor([2]), num_samples=1)
    torch.manual_seed(0)
    noisy = model.generate(torch.tensor([2]), num_samples=1, observation_noise=True)
    assert not torch.equal(mean, noisy)


@pytest.mark.parametrize("model_class", ["CompVAE", "CountCVAE"])
def test_generate_draws_by_default_what_the_data_are_noisy_or_the_mean(model_class):
    from compvae_geo import models
    from compvae_geo.datasets import HouseholdParts
    from compvae_geo.problems import model_config_for

    def draw(model, **kwargs):
        torch.manual_seed(0)
        return model.generate(torch.tensor([1, 4]), 3, torch.tensor([[3.0, 0.0], [4.0, 5.0]]), **kwargs)

    config = model_config_for(HouseholdParts(), w_dim=3, z_dim=2, hidden_dim=8, x_feature_dim=4, part_embed_dim=4)
    assert config.noisy_wholes and not model_config_for(SineParts()).noisy_wholes
    households = getattr(models, model_class)(config).eval()
    assert torch.equal(draw(households), draw(households, observation_noise=True))
    assert not torch.equal(draw(households), draw(households, observation_noise=False))
    quiet = getattr(models, model_class)(replace(config, noisy_wholes=False)).eval()  # e.g. an older checkpoint
    assert torch.equal(draw(quiet), draw(quiet, observation_noise=False))


def test_recomposition_from_a_subset_of_inferred_parts(model):
    data = make_batch(counts=[4], seed=4)
    posterior = model.encode(data)
    w = posterior.w_dist.rsample()
    first_two = model.decode(model.sum_parts(w[:2]))  # z redrawn from p(z | w~)
    assert first_two.mean.shape == (1, 20)
    torch.testing.assert_close(model.sum_parts(w[:2]), torch.cat([w[:2].sum(0), torch.tensor([2.0])]).unsqueeze(0))
    whole = model.decode(model.sum_parts(w), posterior.z)
    assert whole.mean.shape == (1, 20) and torch.isfinite(whole.mean).all()


def test_save_and_load_round_trip(model, tmp_path):
    path = tmp_path / "sub" / "model.pt"
    model.save(path)
    loaded = CompVAE.load(path)
    assert loaded.config == model.config
    data = make_batch(seed=5)
    noise = LatentNoise.sample(CONFIG, len(COUNTS), sum(COUNTS))
    torch.testing.assert_close(loaded.loss(data, noise).elbo, model.loss(data, noise).elbo)
    assert [p.name for p in path.parent.iterdir()] == ["model.pt"]  # no temporary file left


class _Payload:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_load_never_executes_code_from_the_file(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": 1, "config": {}, "state_dict": {}, "extra": _Payload()}, path)
    with pytest.raises(ValueError, match="refused: loading them could run code"):
        CompVAE.load(path)
    torch.save({"something": "else"}, path)
    with pytest.raises(ValueError, match="not a compvae_geo checkpoint"):
        CompVAE.load(path)


def test_bad_input_raises_value_error_naming_the_problem(model):
    good = make_batch(counts=[2, 1])
    cases = {
        "category out of range": Batch(part=torch.tensor([0, 10, 1]), whole=good.whole, batch=good.batch),
        "whole must have shape": Batch(part=good.part, whole=good.whole[:, :5], batch=good.batch),
        "NaN or inf": Batch(part=good.part, whole=good.whole.clone().fill_(float("nan")), batch=good.batch),
        "one entry per part": Batch(part=good.part, whole=good.whole, batch=torch.tensor([0, 1])),
        r"batch values must lie in \[0, 2\)": Batch(part=good.part, whole=good.whole, batch=torch.tensor([0, 0, 2])),
        "no batch vector": Data(part=good.part, whole=good.whole),
        "takes no part_attr": Batch(part=good.part, whole=good.whole, batch=good.batch, part_attr=torch.zeros(3, 2)),
        "1D LongTensor": Batch(part=good.part.float(), whole=good.whole, batch=good.batch),
    }
    for message, bad in cases.items():
        with pytest.raises(ValueError, match=message):
            model.loss(bad)
    with pytest.raises(ValueError, match="category out of range"):
        model.generate(torch.tensor([-1]))
    with pytest.raises(ValueError, match="unknown observation"):
        CompVAE(CompVAEConfig(observation="video"))


def test_config_round_trips_through_plain_dict():
    values = CONFIG.to_dict()
    assert values["obs_shape"] == [20]
    assert CompVAEConfig.from_dict(values) == CONFIG
    with pytest.raises(ValueError, match="unknown CompVAEConfig fields"):
        CompVAEConfig.from_dict({**values, "typo": 1})


def test_count_channel_and_gated_features_can_be_switched_off():
    from dataclasses import replace

    torch.manual_seed(0)
    plain = CompVAE(replace(CONFIG, count_channel=False, gated_node_features=False))
    assert plain.node_gate is None and plain.config.whole_latent_dim == CONFIG.w_dim
    terms = plain.loss(make_batch())
    assert torch.isfinite(terms.elbo).all()
    w = torch.randn(3, CONFIG.w_dim)
    torch.testing.assert_close(plain.sum_parts(w), w.sum(0, keepdim=True))
    assert plain.generate(torch.tensor([1, 2]), num_samples=2).shape == (2, 20)


def test_group_prior_draws_equal_parts_together_and_reads_their_number():
    torch.manual_seed(0)
    model = CompVAE(replace(CONFIG, prior_group_factor=True))
    part = torch.tensor([4, 7, 4])
    draws = model.prior_latents(part, num_samples=100_000)
    centred = draws - draws.mean(0)
    cross = (centred[:, 0] * centred[:, 2]).mean(0)  # the two 4s, per coordinate
    prior = model.part_prior(Multisets.of(part))
    torch.testing.assert_close(cross, prior.loading[0] * prior.loading[2], atol=0.02, rtol=0.05)
    assert (centred[:, 0] * centred[:, 1]).mean(0).abs().max() < 0.02  # a 4 and the 7: independent
    alone = model.part_prior(Multisets.of(part[:2]))  # each category once
    torch.testing.assert_close(alone.loc[1], prior.loc[1])
    assert not torch.allclose(alone.loc[0], prior.loc[0])


def test_count_prior_depends_on_the_size_of_the_whole_only():
    torch.manual_seed(0)
    model = CompVAE(replace(CONFIG, prior_sees_count=True))
    part = torch.tensor([4, 4, 4])
    alone = model.part_prior(Multisets.of(part[:1]))  # K = 1
    together = model.part_prior(Multisets.of(part))  # one whole of K = 3
    split = model.part_prior(Multisets.of(part, batch=torch.tensor([0, 1, 1]), num_wholes=2))  # K = 1 and K = 2
    torch.testing.assert_close(split.loc[0], alone.loc[0])
    assert not torch.allclose(together.loc[0], alone.loc[0])
    torch.testing.assert_close(together.loc[0], together.loc[2])


def test_context_prior_reads_the_rest_of_its_whole_and_not_its_order():
    torch.manual_seed(0)
    model = CompVAE(replace(CONFIG, prior_context_layers=2))
    part = torch.tensor([4, 7, 1])
    together = model.part_prior(Multisets.of(part))
    with_other_company = model.part_prior(Multisets.of(torch.tensor([4, 2, 1])))
    assert not torch.allclose(together.loc[0], with_other_company.loc[0])  # the 4 depends on its company
    reordered = model.part_prior(Multisets.of(part[[2, 0, 1]]))
    torch.testing.assert_close(reordered.loc, together.loc[[2, 0, 1]])
    torch.testing.assert_close(reordered.scale, together.scale[[2, 0, 1]])
    two_wholes = model.part_prior(Multisets.of(torch.cat([part, torch.tensor([9, 9])]),
                                               batch=torch.tensor([0, 0, 0, 1, 1]), num_wholes=2))
    torch.testing.assert_close(two_wholes.loc[:3], together.loc)  # another whole in the batch changes nothing
    without = CompVAE(CONFIG)
    assert without.part_prior.context is None
    alone, beside = without.part_prior(Multisets.of(part[:1])), without.part_prior(Multisets.of(part))
    torch.testing.assert_close(alone.loc[0], beside.loc[0])  # the paper's prior: each part alone


def test_context_layers_cannot_be_negative():
    with pytest.raises(ValueError, match="prior_context_layers"):
        replace(CONFIG, prior_context_layers=-1)


def test_the_context_prior_does_not_change_the_initialisation_of_the_rest():
    torch.manual_seed(0)
    without = CompVAE(CONFIG).state_dict()
    torch.manual_seed(0)
    with_context = CompVAE(replace(CONFIG, prior_context_layers=2)).state_dict()
    context_keys = {key for key in with_context if key.startswith("part_prior.context.")}
    assert context_keys and set(with_context) - context_keys == set(without)
    for key, value in without.items():
        torch.testing.assert_close(with_context[key], value, rtol=0, atol=0)


def test_conditions_reach_the_z_posterior_the_z_prior_and_the_decoder_and_may_be_unknown():
    torch.manual_seed(0)
    model = CompVAE(replace(CONFIG, whole_attr_dim=2))
    data = make_batch(counts=[2, 3, 1])
    data.whole_attr = torch.tensor([[0.5, -1.0], [float("nan"), float("nan")], [2.0, 0.0]])
    noise = LatentNoise.sample(model.config, 3, 6)
    terms = model.loss(data, noise)
    assert torch.isfinite(terms.elbo).all()
    changed = data.clone()
    changed.whole_attr = data.whole_attr.clone()
    changed.whole_attr[0] = torch.tensor([-3.0, 4.0])
    other = model.loss(changed, noise)
    assert other.elbo[0] != terms.elbo[0] and torch.equal(other.elbo[1:], terms.elbo[1:])  # each whole its own
    for single, b in zip(data.to_data_list(), range(3)):
        single.whole_attr = data.whole_attr[b:b + 1]
        nodes = slice(int(data.ptr[b]), int(data.ptr[b + 1]))
        one = LatentNoise(noise.z[b:b + 1], noise.node[nodes], noise.w[nodes])
        torch.testing.assert_close(model.loss(single, one).elbo, terms.elbo[b:b + 1], rtol=1e-4, atol=1e-3)
    w_tilde = torch.randn(1, model.config.whole_latent_dim)
    z = torch.randn(1, model.config.z_dim)
    known = model.decode(w_tilde, z, torch.tensor([0.5, -1.0])).mean
    assert not torch.equal(known, model.decode(w_tilde, z).mean)  # the decoder reads them
    known_prior = model.z_prior(None, model.conditions(torch.tensor([0.5, -1.0]), w_tilde), w_tilde)
    assert not torch.equal(known_prior.loc, model.z_prior(None, model.conditions(None, w_tilde), w_tilde).loc)
    bad = data.clone()
    bad.whole_attr = torch.tensor([[0.5, float("inf")], [0.0, 0.0], [0.0, 0.0]])
    with pytest.raises(ValueError, match="finite, or all NaN"):
        model.loss(bad)
    with pytest.raises(ValueError, match="takes no whole_attr"):
        CompVAE(CONFIG).generate(torch.tensor([1]), 2, whole_attr=torch.zeros(2))


def test_absurd_wholes_are_refused_and_float64_inputs_converted():
    torch.manual_seed(0)
    model = CompVAE(CONFIG)
    data = make_batch(counts=[2, 3])
    noise = LatentNoise.sample(CONFIG, 2, 5)
    absurd = data.clone()
    absurd.whole = data.whole * 1e30
    with pytest.raises(ValueError, match="whole holds values up to .* scale the data"):
        model.loss(absurd)
    double = data.clone()
    double.whole = data.whole.double()
    torch.testing.assert_close(model.loss(double, noise).elbo, model.loss(data, noise).elbo)
    integers = data.clone()
    integers.whole = data.whole.long()
    with pytest.raises(ValueError, match="whole must be a float tensor, got torch.int64"):
        model.loss(integers)


def test_a_list_of_ints_is_one_multiset_and_a_mixed_list_is_refused():
    torch.manual_seed(0)
    model = CompVAE(CONFIG)
    torch.manual_seed(1)
    from_list = model.generate([0, 3], 4)
    torch.manual_seed(1)
    torch.testing.assert_close(from_list, model.generate(torch.tensor([0, 3]), 4), rtol=0, atol=0)
    assert model.generate([], 2).shape == (2, *CONFIG.obs_shape)
    with pytest.raises(ValueError, match="a list of ints \\(one multiset\\), or a list of LongTensors"):
        model.generate([0, torch.tensor([3])], 4)


@pytest.mark.parametrize("num_parts", [2, 5])
def test_generate_in_chunks_draws_what_one_pass_draws(num_parts, monkeypatch):
    from compvae_geo.models import compvae

    torch.manual_seed(0)
    model = CompVAE(replace(CONFIG, render_channels=2, whole_attr_dim=1))
    parts = torch.arange(num_parts) % CONFIG.num_categories
    conditions = torch.randn(7, 1)
    torch.manual_seed(1)
    one_pass = model.generate(parts, 7, whole_attr=conditions)
    monkeypatch.setattr(compvae, "GENERATE_CHUNK_PARTS", 3)  # K = 2: whole wholes per chunk; K = 5: split wholes
    monkeypatch.setattr(compvae, "GENERATE_CHUNK_SAMPLES", 2)
    torch.manual_seed(1)
    chunked = model.generate(parts, 7, whole_attr=conditions)
    torch.testing.assert_close(chunked, one_pass, rtol=1e-5, atol=1e-5)


def test_z_first_draws_z_from_the_multiset_and_the_parts_given_z():
    with pytest.raises(ValueError, match="z_first needs a z"):
        replace(CONFIG, z_first=True, z_dim=0)
    torch.manual_seed(0)
    model = CompVAE(replace(CONFIG, z_first=True, whole_attr_dim=1, render_channels=2))
    data = make_batch(counts=[2, 3, 1, 0])
    data.whole_attr = torch.tensor([[0.5], [float("nan")], [-1.0], [2.0]])
    noise = LatentNoise.sample(model.config, 4, 6)
    terms = model.loss(data, noise)
    for b, single in enumerate(data.to_data_list()):  # batched = one whole at a time
        single.whole_attr = data.whole_attr[b:b + 1]
        nodes = slice(int(data.ptr[b]), int(data.ptr[b + 1]))
        one = LatentNoise(noise.z[b:b + 1], noise.node[nodes], noise.w[nodes])
        torch.testing.assert_close(model.loss(single, one).elbo, terms.elbo[b:b + 1], rtol=1e-4, atol=1e-3)
    other_z = LatentNoise(noise.z + 1.0, noise.node, noise.w)
    assert (model.loss(data, other_z).w[:3] != terms.w[:3]).all()  # L_w reads z (the whole of no parts has none)
    # p(z | {l_i}, c) reads the multiset, not the order of its parts
    summary = model.z_prior.summary(Multisets.of(torch.tensor([1, 4, 4])))
    torch.testing.assert_close(model.z_prior.summary(Multisets.of(torch.tensor([4, 1, 4]))), summary)
    assert summary[0, -1] == 1 / 4  # and 1 / (K + 1)
    doubled = model.z_prior.summary(Multisets.of(torch.tensor([1, 1, 4, 4, 4, 4])))
    torch.testing.assert_close(doubled[:, :-1], summary[:, :-1])  # the mean embedding
    empty = model.z_prior.summary(Multisets.of(torch.tensor([], dtype=torch.long)))
    assert empty.tolist() == [[0.0] * CONFIG.part_embed_dim + [1.0]]
    # draw_prior: z from p(z | {l_i}, c), then w from p(w_i | l_i, z), each sample with its own z
    parts, condition = torch.tensor([1, 4, 4]), torch.tensor([0.5])
    with torch.no_grad():
        model.part_prior.z.weight.mul_(10)  # so that z visibly moves the parts' prior
    w, z = model.draw_prior(parts, 3000, whole_attr=condition)
    z_prior = model.z_prior(Multisets.of(parts), model.conditions(condition, summary))
    torch.testing.assert_close(z.mean(0), z_prior.loc[0], rtol=0, atol=4 * z_prior.scale.max().item() / 3000**0.5)

    def standardised(z):  # w under the part prior given z, one whole per sample; equal parts share a factor
        prior = model.part_prior(Multisets.of(parts).copies(3000), z)
        return ((w.flatten(0, 1) - prior.loc) / prior.variance.sqrt())[::3]  # the first part, alone in its group

    assert abs(standardised(z).std().item() - 1) < 0.05  # each sample's parts were drawn given its own z
    assert standardised(z.roll(1, 0)).std().item() > 1.1  # not given another sample's
    with pytest.raises(ValueError, match="this model draws z first, from the multiset: pass z"):
        model.decode(torch.zeros(1, model.config.whole_latent_dim + 2 * CONFIG.obs_shape[0]))
    assert model.generate(parts, 2, whole_attr=condition).shape == (2, *CONFIG.obs_shape)
    assert model.generate(torch.tensor([], dtype=torch.long), 2).shape == (2, *CONFIG.obs_shape)


def test_the_papers_z_prior_refuses_to_run_without_w_tilde():
    model = CompVAE(CONFIG)
    with pytest.raises(ValueError, match=r"^p\(z \| w~, c\) needs w~: this model draws the parts' latents before z$"):
        model.z_prior(None, torch.zeros(1, 0), None)


def test_sum_parts_and_decode_say_what_they_miss():
    renders = CompVAE(replace(CONFIG, render_channels=2))
    with pytest.raises(ValueError, match=r"^this model renders its parts \(render_channels > 0\): pass their "
                                         r"categories \(and part_attr\) to sum_parts$"):
        renders.sum_parts(torch.zeros(2, CONFIG.w_dim))
    z_first = CompVAE(replace(CONFIG, z_first=True))
    with pytest.raises(ValueError, match=r"^this model draws z first, from the multiset: pass z \(see draw_prior\)$"):
        z_first.decode(torch.zeros(1, CONFIG.whole_latent_dim))
