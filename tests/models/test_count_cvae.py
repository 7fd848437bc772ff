"""The baselines of the evaluation: the count-vector CVAE and CompVAE without z."""
import pytest
import torch
from torch.distributions import Normal
from torch_geometric.data import Batch, Data

from compvae_geo import CompVAE, CompVAEConfig
from compvae_geo.datasets import SineParts
from compvae_geo.models import CountCVAE, build_model, load_model

PROBLEM = SineParts(length=20)
CONFIG = CompVAEConfig(obs_shape=PROBLEM.obs_shape, w_dim=4, z_dim=3, hidden_dim=16, x_feature_dim=8,
                       part_embed_dim=5, num_update_layers=1)


def batch(parts: list[list[int]], seed: int = 0) -> Batch:
    generator = torch.Generator().manual_seed(seed)
    data = []
    for categories in parts:
        part = torch.tensor(categories, dtype=torch.long)
        data.append(Data(part=part, whole=PROBLEM.sample_wholes(part, 1, generator=generator), num_nodes=part.numel()))
    return Batch.from_data_list(data)


def test_count_cvae_counts_categories_and_is_order_invariant():
    torch.manual_seed(0)
    model = CountCVAE(CONFIG)
    data = batch([[3, 1, 3], [0], []])
    counts = model.category_counts(data.part, data.batch, 3)
    expected = torch.zeros(3, CONFIG.num_categories)
    expected[0, 3], expected[0, 1], expected[1, 0] = 2, 1, 1
    torch.testing.assert_close(counts, expected)
    reordered = data.clone()
    reordered.part = data.part[[0, 2, 1, 3]]  # parts 3, 3, 1 of the same first whole
    torch.manual_seed(1)
    first = model.loss(data)
    torch.manual_seed(1)
    second = model.loss(reordered)
    torch.testing.assert_close(first.elbo, second.elbo)
    assert torch.equal(first.w, torch.zeros(3))


def test_count_cvae_loss_matches_its_definition():
    torch.manual_seed(0)
    model = CountCVAE(CONFIG)
    data = batch([[2, 7], [5, 5, 5, 1]], seed=3)
    torch.manual_seed(4)
    terms = model.loss(data)
    # the same computation written out: q(z|x,c), p(z|c) and their KL in closed form, coordinate by coordinate
    counts = model.category_counts(data.part, data.batch, 2)
    loc, raw = model.z_posterior(torch.cat([model.x_encoder(data.whole), counts], -1)).chunk(2, -1)
    q = Normal(loc, CONFIG.posterior_scale_floor + torch.nn.functional.softplus(raw))
    prior_loc, prior_raw = model.z_prior(counts).chunk(2, -1)
    p = Normal(prior_loc, CONFIG.prior_scale_floor + torch.nn.functional.softplus(prior_raw))
    kl = torch.log(p.scale / q.scale) + (q.scale.pow(2) + (q.loc - p.loc).pow(2)) / (2 * p.scale.pow(2)) - 0.5
    torch.testing.assert_close(terms.z, kl.sum(-1), rtol=1e-5, atol=1e-5)
    assert terms.x.shape == (2,) and torch.isfinite(terms.x).all()


def test_count_cvae_generates_and_round_trips(tmp_path):
    torch.manual_seed(0)
    model = CountCVAE(CONFIG)
    assert model.generate(torch.tensor([1, 1, 4]), 5).shape == (5, 20)
    assert model.generate(torch.tensor([], dtype=torch.long), 2).shape == (2, 20)
    with pytest.raises(ValueError, match="out of range"):
        model.generate(torch.tensor([10]), 1)
    with pytest.raises(ValueError, match="takes no whole_attr"):
        model.generate(torch.tensor([1]), 1, whole_attr=torch.zeros(2))
    path = tmp_path / "cvae.pt"
    model.save(path)
    loaded = load_model(path)
    assert isinstance(loaded, CountCVAE)
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, loaded.state_dict()[name]), name
    with pytest.raises(ValueError, match="holds a 'count_cvae' model"):
        CompVAE.load(path)


def test_compvae_without_z_has_zero_l_z_and_decodes_from_w_tilde_alone():
    torch.manual_seed(0)
    model = CompVAE(CompVAEConfig(**{**CONFIG.to_dict(), "z_dim": 0}))
    data = batch([[3, 1, 3], [0], []])
    terms = model.loss(data)
    assert torch.equal(terms.z, torch.zeros(3)) and torch.isfinite(terms.elbo).all()
    terms.elbo.mean().backward()
    w_tilde = torch.randn(2, CONFIG.whole_latent_dim)
    torch.testing.assert_close(model.decode(w_tilde).mean, model.decode(w_tilde, torch.zeros(2, 0)).mean)
    assert model.generate(torch.tensor([2, 2]), 4).shape == (4, 20)


def test_build_model_names_the_known_models():
    assert isinstance(build_model("count_cvae", CONFIG), CountCVAE)
    assert isinstance(build_model("compvae", CONFIG), CompVAE)
    with pytest.raises(ValueError, match="unknown model 'gan'"):
        build_model("gan", CONFIG)


def test_count_cvae_reads_descriptor_sums_per_category_and_the_conditions():
    torch.manual_seed(0)
    model = CountCVAE(CompVAEConfig(num_categories=3, part_attr_dim=2, whole_attr_dim=2, obs_shape=(20,), z_dim=3,
                                    hidden_dim=16, x_feature_dim=8))
    part, attr = torch.tensor([0, 2, 0, 1]), torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]])
    batch = torch.tensor([0, 0, 0, 1])
    whole_attr = torch.tensor([[0.5, -1.0], [float("nan"), float("nan")]])
    counts = model.category_counts(part, batch, 2, attr, whole_attr)
    expected = torch.tensor([[2.0, 0, 1, 6, 8, 0, 0, 3, 4, 0.5, -1, 1], [0, 1, 0, 0, 0, 7, 8, 0, 0, 0, 0, 0]])
    torch.testing.assert_close(counts, expected)  # counts, per-category sums of each descriptor, conditions, known
    data = Batch(part=part, part_attr=attr, batch=batch, whole=torch.randn(2, 20), whole_attr=whole_attr)
    assert torch.isfinite(model.loss(data).elbo).all()
    assert model.generate(part[:3], 4, attr[:3], whole_attr=whole_attr[0]).shape == (4, 20)


def test_count_cvae_loss_is_the_kl_and_the_negative_log_likelihood_at_the_posterior_draw_with_conditions():
    from compvae_geo.datasets import HouseholdParts
    from compvae_geo.problems import model_config_for

    problem = HouseholdParts()
    torch.manual_seed(0)
    model = CountCVAE(model_config_for(problem, w_dim=4, z_dim=3, hidden_dim=16, x_feature_dim=8, part_embed_dim=4,
                                       num_update_layers=1))
    data = problem.sample_batch(3, 4, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(2)
    terms = model.loss(data)
    # by hand, from the modules: q(z | x, c) with its draw, p(z | c), p(x | z, c)
    counts = model.category_counts(data.part, data.batch, 3, data.part_attr, data.whole_attr)
    loc, raw = model.z_posterior(torch.cat([model.x_encoder(data.whole), counts], -1)).chunk(2, -1)
    posterior = Normal(loc, model.config.posterior_scale_floor + torch.nn.functional.softplus(raw))
    torch.manual_seed(2)
    z = posterior.rsample()
    kl = torch.distributions.kl_divergence(posterior, model.z_prior_dist(counts)).sum(-1)  # closed form
    torch.testing.assert_close(terms.z, kl)
    x = model.decode(counts, z)
    torch.testing.assert_close(terms.x, -x.log_prob(data.whole).sum(-1))
    unknown = data.clone()
    unknown.whole_attr = torch.full_like(data.whole_attr, float("nan"))
    torch.manual_seed(2)
    assert not torch.allclose(model.loss(unknown).elbo, terms.elbo)  # the conditions reach the loss


def households_count_cvae(**options):
    from compvae_geo.datasets import HouseholdParts
    from compvae_geo.problems import model_config_for

    torch.manual_seed(0)
    return CountCVAE(model_config_for(HouseholdParts(), z_dim=3, hidden_dim=16, x_feature_dim=8,
                                      per_part_decoder=True, **options))


def test_the_count_cvae_with_jumping_parts_reads_its_multiset_per_part_and_has_the_law_of_k_of_them():
    import torch.nn.functional as F
    from torch.distributions import Binomial, Categorical, MixtureSameFamily

    from compvae_geo.datasets import HouseholdParts

    model = households_count_cvae(observation_jumps=True)
    c = model.config
    data = HouseholdParts().sample_batch(3, 4, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(2)
    terms = model.loss(data)
    counts = model.category_counts(data.part, data.batch, 3, data.part_attr, data.whole_attr)
    loc, raw = model.z_posterior(torch.cat([model.x_encoder(data.whole), counts], -1)).chunk(2, -1)
    torch.manual_seed(2)
    z = Normal(loc, c.posterior_scale_floor + F.softplus(raw)).rsample()
    parts_dim = c.num_categories * (1 + c.part_attr_dim)
    soft = lambda raw, floor=c.observation_scale_floor: floor + F.softplus(raw)  # noqa: E731
    for b in range(3):  # by hand: the decoder and the jump network read the counts per household, then K of them
        k = counts[b, :c.num_categories].sum()
        per_part = torch.cat([z[b], counts[b, :parts_dim] / k, torch.ones(1), counts[b, parts_dim:], 1 / k[None]])[None]
        x_loc, x_raw = (t[0] for t in model.observation.decoder(per_part, None))
        logit, raw_size, raw_spread = model.observation.jump_net(per_part).view(3, -1)
        total = torch.tensor(0.0)
        for t in range(data.whole.size(1)):
            jumps = torch.arange(k + 1)
            levels = Normal(k * x_loc[t] + jumps * F.softplus(raw_size[t]),
                            (k * soft(x_raw[t]) ** 2 + jumps * soft(raw_spread[t]) ** 2).sqrt())
            weights = Categorical(logits=Binomial(k, logits=logit[t]).log_prob(jumps))
            total = total - MixtureSameFamily(weights, levels).log_prob(data.whole[b, t])
        torch.testing.assert_close(terms.x[b], total, rtol=1e-4, atol=1e-3)


def test_the_count_cvae_blind_to_k_makes_r_copies_of_a_multiset_r_times_its_whole():
    model = households_count_cvae(decoder_sees_count=False).eval()
    c = model.config
    part = torch.tensor([0, 3, 3, 6])
    attr = torch.rand(4, 2)
    counts = model.category_counts(part, torch.zeros(4, dtype=torch.long), 1, attr)
    tripled = model.category_counts(part.repeat(3), torch.zeros(12, dtype=torch.long), 1, attr.repeat(3, 1))
    z = torch.randn(1, c.z_dim)
    one, three = model.decode(counts, z), model.decode(tripled, z)
    torch.testing.assert_close(three.mean, 3 * one.mean)
    torch.testing.assert_close(three.variance, 3 * one.variance)
    with pytest.raises(ValueError, match="whole 1 of the batch has no parts"):
        model.loss(Batch(part=part, part_attr=attr, batch=torch.zeros(4, dtype=torch.long), whole=torch.rand(2, 96)))
    with pytest.raises(ValueError, match="renders no parts"):
        households_count_cvae(observation_jumps=True, render_channels=2, jumps_read_render=True)
