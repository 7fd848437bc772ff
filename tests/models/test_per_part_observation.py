"""The observation model that composes: K times one part's mean and variance, the decoder reading per-part inputs."""
import pytest
import torch
from helpers import TINY_MODEL, assert_loss_permutation_invariant_and_batched_like_one_by_one

from compvae_geo import CompVAE, LatentNoise
from compvae_geo.datasets import HouseholdParts
from compvae_geo.models.per_part_observation import PerPartObservation
from compvae_geo.problems import model_config_for


def households_model(**overrides):
    torch.manual_seed(0)
    config = model_config_for(HouseholdParts(), **{**TINY_MODEL, "render_channels": 2, "z_first": True,
                                                   "per_part_decoder": True, **overrides})
    return CompVAE(config).eval()


def test_the_whole_is_k_parts_of_what_the_decoder_reads_per_part():
    model = households_model()
    observation = model.observation
    assert isinstance(observation, PerPartObservation)
    c = model.config
    latent = torch.randn(3, c.z_dim + c.whole_latent_dim + c.condition_dim)
    counts = torch.tensor([1.0, 4.0, 64.0])
    latent[:, c.z_dim + c.whole_latent_dim - 1] = counts  # the count channel
    rendered = torch.randn(3, c.render_channels, 96)
    x = observation(latent, rendered)
    for b, k in enumerate(counts.tolist()):  # by hand: the decoder on the per-part inputs, then K times
        per_part = latent[b:b + 1].clone()
        per_part[:, c.z_dim:c.z_dim + c.whole_latent_dim] /= k
        loc, raw = observation.decoder(torch.cat([per_part, torch.tensor([[1 / k]])], -1), rendered[b:b + 1] / k)
        scale = c.observation_scale_floor + torch.nn.functional.softplus(raw)
        torch.testing.assert_close(x.mean[b:b + 1], k * loc)
        torch.testing.assert_close(x.stddev[b:b + 1], (k ** 0.5 * scale).expand_as(loc))
    # reading K is the default of the module
    alone = PerPartObservation(observation.decoder, c.observation_scale_floor, observation.vector)(latent, rendered)
    torch.testing.assert_close(alone.mean, x.mean)


def test_its_loss_is_permutation_invariant_and_batched_like_one_by_one():
    problem = HouseholdParts()
    model = households_model()
    batch = problem.sample_batch(6, 5, generator=torch.Generator().manual_seed(1))
    noise = LatentNoise.sample(model.config, 6, batch.part.numel(), batch.whole.device)
    assert_loss_permutation_invariant_and_batched_like_one_by_one(model, batch, noise)


def test_it_needs_the_count_channel():
    import pytest

    with pytest.raises(ValueError, match="needs count_channel"):
        households_model(count_channel=False)


def test_the_jump_observation_is_the_law_of_k_parts_from_the_per_part_decoder_and_jump_network():
    from compvae_geo.models.jump_normal import BinomialJumpNormal
    from compvae_geo.models.per_part_observation import PerPartJumpObservation

    model = households_model(observation_jumps=True)
    observation = model.observation
    assert isinstance(observation, PerPartJumpObservation)
    c = model.config
    latent = torch.randn(3, c.z_dim + c.whole_latent_dim + c.condition_dim)
    counts = torch.tensor([1.0, 3.0, 40.0])
    latent[:, c.z_dim + c.whole_latent_dim - 1] = counts
    rendered = torch.randn(3, c.render_channels, 96)
    x = observation(latent, rendered)
    assert isinstance(x, BinomialJumpNormal)
    softplus = torch.nn.functional.softplus
    for b, k in enumerate(counts.tolist()):
        per_part = latent[b:b + 1].clone()
        per_part[:, c.z_dim:c.z_dim + c.whole_latent_dim] /= k
        per_part = torch.cat([per_part, torch.tensor([[1 / k]])], -1)
        loc, raw = observation.decoder(per_part, rendered[b:b + 1] / k)
        logit, raw_size, raw_spread = observation.jump_net(per_part).view(1, 3, 96).unbind(1)
        alone = BinomialJumpNormal(torch.tensor([[k]]), loc, c.observation_scale_floor + softplus(raw), logit,
                                   softplus(raw_size), c.observation_scale_floor + softplus(raw_spread))
        value = torch.randn(1, 96) * 3 + k
        torch.testing.assert_close(x.log_prob(value.expand(3, -1))[b:b + 1], alone.log_prob(value))
        torch.testing.assert_close(x.mean[b:b + 1], alone.mean)
    # by default the module reads K and its jumps read the latent alone
    default = PerPartJumpObservation(observation.decoder, c.observation_scale_floor, observation.vector, (96,),
                                     per_part.size(-1), c.hidden_dim)
    assert default.reads_count and default.jump_head is None and default.jump_channels == 3
    default.jump_net = observation.jump_net
    torch.testing.assert_close(default(latent, rendered).log_prob(value.expand(3, -1)),
                               x.log_prob(value.expand(3, -1)))


def test_jumps_that_read_the_rendered_parts_refuse_to_run_without_them():
    model = households_model(observation_jumps=True, jumps_read_render=True)
    c = model.config
    _, part_latent, _ = model.observation.per_part(torch.randn(2, c.z_dim + c.whole_latent_dim + c.condition_dim), None)
    with pytest.raises(ValueError, match="^this jump network reads the rendered sum of the parts: give it$"):
        model.observation.jump_parameters(part_latent, None)


def test_the_jump_model_loss_is_permutation_invariant_and_batched_like_one_by_one():
    problem = HouseholdParts()
    model = households_model(observation_jumps=True)
    batch = problem.sample_batch(6, 5, generator=torch.Generator().manual_seed(2))
    noise = LatentNoise.sample(model.config, 6, batch.part.numel(), batch.whole.device)
    assert_loss_permutation_invariant_and_batched_like_one_by_one(model, batch, noise)


def test_abducted_observation_noise_gives_the_observed_whole_back_through_the_jump_law():
    from compvae_geo.validation import check_wholes

    problem = HouseholdParts()
    model = households_model(observation_jumps=True)
    batch = problem.sample_batch(1, 3, generator=torch.Generator().manual_seed(3))
    wholes = check_wholes(batch, model.config).copies(2)
    torch.manual_seed(4)
    noise = model.abduct(wholes)
    again = model.wholes_from_noise(batch.part, noise, batch.part_attr, batch.whole_attr.expand(2, -1))
    torch.testing.assert_close(again, batch.whole.expand(2, -1), atol=1e-3, rtol=1e-4)


def test_jumps_need_the_per_part_decoder():
    import pytest

    with pytest.raises(ValueError, match="needs per_part_decoder"):
        households_model(per_part_decoder=False, observation_jumps=True)


@pytest.mark.parametrize("jumps", [True, False], ids=["jumps", "gaussian parts"])
@pytest.mark.parametrize("sees_count", [False, True], ids=["blind to K", "reading K"])
def test_a_model_blind_to_k_makes_r_copies_of_a_multiset_r_times_its_whole(sees_count, jumps):
    # blind to K (the households preset), the whole of r copies of every part (with the same noise) is r times the
    # whole; a model reading 1/K, 1/(K+1) and 1/m_i makes another whole of the same mix (so the check can fail)
    from compvae_geo.models.latents import GenerationNoise

    problem = HouseholdParts()
    model = households_model(observation_jumps=jumps, prior_group_factor=True, sees_count=sees_count,
                             decoder_sees_count=sees_count)
    generator = torch.Generator().manual_seed(5)
    part = torch.tensor([0, 3, 3, 5])
    part_attr = problem.sample_part_attr(part, generator)
    whole_attr = problem.conditions("saturday", 4.0)
    torch.manual_seed(6)
    noise = model.generation_noise(part, 3)
    copies = 5
    tiled = GenerationNoise(noise.z, noise.own.repeat(1, copies, 1), noise.shared, None)
    whole = model.wholes_from_noise(part, noise, part_attr, whole_attr)
    of_copies = model.wholes_from_noise(part.repeat(copies), tiled, part_attr.repeat(copies, 1), whole_attr)
    if sees_count:
        assert not torch.allclose(of_copies, copies * whole, rtol=1e-2)
    else:
        torch.testing.assert_close(of_copies, copies * whole)


def test_blind_to_k_needs_the_per_part_decoder_and_no_count_in_the_prior():
    for blind in ("sees_count", "decoder_sees_count"):
        with pytest.raises(ValueError, match="needs per_part_decoder"):
            households_model(per_part_decoder=False, **{blind: False})
    with pytest.raises(ValueError, match="contradicts sees_count"):
        households_model(prior_sees_count=True, sees_count=False)


@pytest.mark.parametrize("jumps", [False, True], ids=["gaussian", "jumps"])
def test_a_multiset_of_no_parts_is_exactly_zero_as_its_mean_its_draws_and_its_noise_map(jumps):
    model = households_model(observation_jumps=jumps)
    conditions = HouseholdParts().conditions("weekday", 5.0)
    empty, no_attr = torch.tensor([], dtype=torch.long), torch.zeros(0, model.config.part_attr_dim)
    for observation_noise in (False, True):
        x = model.generate(empty, 3, no_attr, conditions, observation_noise=observation_noise)
        assert torch.equal(x, torch.zeros(3, 96))
    noise = model.generation_noise(empty, 3, observation_noise=True)
    assert torch.equal(model.wholes_from_noise(empty, noise, no_attr, conditions), torch.zeros(3, 96))
    # in a batch beside wholes of parts, the others keep their law: K times one part's
    c = model.config
    latent = torch.randn(2, c.z_dim + c.whole_latent_dim + c.condition_dim)
    latent[:, c.z_dim + c.whole_latent_dim - 1] = torch.tensor([0.0, 3.0])
    latent[0, c.z_dim:c.z_dim + c.whole_latent_dim] = 0.0  # no parts: w~ is 0
    x = model.observation(latent, torch.randn(2, c.render_channels, 96) * torch.tensor([0.0, 1.0]).view(2, 1, 1))
    assert torch.equal(x.mean[0], torch.zeros(96)) and x.mean[1].abs().min() > 0
    assert torch.equal(x.sample()[0], torch.zeros(96))


def test_wholes_of_no_parts_are_refused_for_learning_and_inference():
    from compvae_geo.datasets import batch_from_tensors

    model = households_model(observation_jumps=True)
    problem = HouseholdParts()
    part = torch.tensor([0, 3, 5])
    generator = torch.Generator().manual_seed(0)
    conditions = problem.conditions("weekday", 5.0).expand(3, -1)
    attr = problem.sample_part_attr(part, generator)
    data = batch_from_tensors(torch.tensor([2, 0, 1]), part, torch.rand(3, 96), attr, conditions)
    for entry in (model.loss, model.encode):
        with pytest.raises(ValueError, match="whole 1 of the batch has no parts"):
            entry(data)
