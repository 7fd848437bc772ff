"""What-if recomposition (compvae_geo.structural.recompose) against replayed draws of the model."""
from dataclasses import replace

import pytest
import torch
from torch_geometric.data import Batch, Data

from compvae_geo import CompVAE, CompVAEConfig, recompose
from compvae_geo.datasets import HouseholdParts, SineParts, check_edit
from compvae_geo.problems import model_config_for
from compvae_geo.structural import counterfactual
from compvae_geo.validation import Multisets

PROBLEM = SineParts(length=20)
CONFIG = CompVAEConfig(obs_shape=PROBLEM.obs_shape, w_dim=4, z_dim=3, hidden_dim=32, x_feature_dim=8, part_embed_dim=5,
                       num_update_layers=2)
VARIANTS = {"paper": {}, "group_prior": dict(prior_group_factor=True, prior_sees_count=True),
            "z_first": dict(z_first=True), "rendered": dict(render_channels=2, render_hidden_dim=8, z_dim=0)}
SAMPLES = 5


@pytest.fixture(params=list(VARIANTS.values()), ids=list(VARIANTS))
def model(request):
    torch.manual_seed(0)
    return CompVAE(replace(CONFIG, **request.param)).eval()


def observed(parts=(3, 1, 3, 7), seed=0) -> Data:
    part = torch.tensor(parts)
    return PROBLEM.observe(part, generator=torch.Generator().manual_seed(seed)).data()


def what_if(model: CompVAE, data: Data, remove=None, add_part=None, add_part_attr=None, num_samples=1,
            observation_noise=True) -> torch.Tensor:
    """Recompose with the edit built from positions and categories, as the command line builds it."""
    c = model.config
    edit = check_edit(data.part.numel(), remove, add_part, add_part_attr, c.num_categories, c.part_attr_dim)
    return recompose(model, data, edit, num_samples, observation_noise)


def copies(data: Data, times: int) -> Batch:
    return Batch.from_data_list([data] * times)


def reconstruction(model: CompVAE, data: Data, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The oracle: replay recompose's draws of z and the w_i by hand; returns the w_i [S K, D] and z."""
    torch.manual_seed(seed)
    posterior = model.encode(copies(data, SAMPLES))
    return posterior.w_dist.sample(), posterior.z


def test_nothing_removed_or_added_gives_back_the_observation(model):
    data = observed()
    torch.testing.assert_close(what_if(model, data, num_samples=SAMPLES), data.whole.expand(SAMPLES, -1),
                               rtol=1e-5, atol=1e-5)


def test_nothing_removed_or_added_without_noise_is_the_reconstruction_distribution(model):
    data = observed()
    torch.manual_seed(1)
    means = what_if(model, data, num_samples=SAMPLES, observation_noise=False)
    w, z = reconstruction(model, data, 1)
    batch = torch.arange(SAMPLES).repeat_interleave(data.part.numel())
    expected = model.decode(model.sum_parts(w, batch, SAMPLES, data.part.repeat(SAMPLES)), z).mean
    torch.testing.assert_close(means, expected)
    assert means.std(0).max() > 0  # one draw of the latents per sample


def z_prior(model: CompVAE, part: torch.Tensor, w_tilde: torch.Tensor):
    """p(z | ...) of SAMPLES wholes of the multiset ``part`` (each with its own w~ [S, ...])."""
    return model.z_prior(Multisets.of(part).copies(SAMPLES), torch.zeros(SAMPLES, 0), w_tilde)


def edited_z(model: CompVAE, z, before: torch.Tensor, w_tilde, after: torch.Tensor, edited_w_tilde):
    """The day's noise of z under the observed multiset, through p(z | ...) of the edited one."""
    old, new = z_prior(model, before, w_tilde), z_prior(model, after, edited_w_tilde)
    return new.loc + new.scale * (z - old.loc) / old.scale


def test_removing_every_part_decodes_the_empty_multiset_with_the_day_of_the_observation(model):
    data = observed()
    torch.manual_seed(2)
    means = what_if(model, data, remove=list(range(4)), num_samples=SAMPLES, observation_noise=False)
    w, z = reconstruction(model, data, 2)
    batch = torch.arange(SAMPLES).repeat_interleave(4)
    w_tilde = model.sum_parts(w, batch, SAMPLES, data.part.repeat(SAMPLES))
    empty = torch.empty(0, dtype=torch.long)
    nothing = model.sum_parts(torch.empty(0, model.config.w_dim), empty, SAMPLES, empty)
    z = edited_z(model, z, data.part, w_tilde, empty, nothing)
    torch.testing.assert_close(means, model.decode(nothing, z).mean)


def test_added_parts_get_fresh_noise_through_the_part_prior_given_the_edited_z():
    torch.manual_seed(0)
    model = CompVAE(replace(CONFIG, z_first=True)).eval()
    data = observed()
    add = torch.tensor([5, 5])
    torch.manual_seed(3)
    means = what_if(model, data, remove=[0, 1, 2, 3], add_part=add, num_samples=SAMPLES, observation_noise=False)
    w, z = reconstruction(model, data, 3)
    noise = torch.randn(SAMPLES * 2, model.config.w_dim)
    z = edited_z(model, z, data.part, None, add, None)
    batch = torch.arange(SAMPLES).repeat_interleave(2)
    prior = model.part_prior(Multisets.of(add).copies(SAMPLES), z)
    w = prior.loc + prior.scale * noise
    expected = model.decode(model.sum_parts(w, batch, SAMPLES, add.repeat(SAMPLES)), z).mean
    torch.testing.assert_close(means, expected)


@pytest.mark.parametrize("variant", ["paper", "rendered"])
def test_removing_a_part_keeps_the_other_latents_where_the_part_prior_reads_neither_z_nor_the_multiset(variant):
    """Removing the part at position 1: the other parts' latents of the same posterior draw, z through p(z | w~')."""
    torch.manual_seed(0)
    model = CompVAE(replace(CONFIG, **VARIANTS[variant])).eval()
    data = observed()
    torch.manual_seed(4)
    means = what_if(model, data, remove=[1], num_samples=SAMPLES, observation_noise=False)
    w, z = reconstruction(model, data, 4)
    keep = torch.tensor([True, False, True, True]).repeat(SAMPLES)
    parts = data.part.repeat(SAMPLES)
    w_tilde = model.sum_parts(w, torch.arange(SAMPLES).repeat_interleave(4), SAMPLES, parts)
    edited = model.sum_parts(w[keep], torch.arange(SAMPLES).repeat_interleave(3), SAMPLES, parts[keep])
    z = edited_z(model, z, data.part, w_tilde, data.part[[0, 2, 3]], edited)
    torch.testing.assert_close(means, model.decode(edited, z).mean)


def test_the_conditions_of_the_observation_pass_through():
    problem = HouseholdParts()
    torch.manual_seed(0)
    model = CompVAE(model_config_for(problem, w_dim=4, z_dim=3, hidden_dim=16, x_feature_dim=8, part_embed_dim=4,
                                     num_update_layers=1, z_first=True)).eval()
    generator = torch.Generator().manual_seed(0)
    observation = problem.observe(torch.tensor([0, 4]), whole_attr=problem.conditions("weekday", -5.0),
                                  generator=generator)
    data = observation.data()
    add_attr = problem.sample_part_attr(torch.tensor([6]), generator)
    torch.manual_seed(5)
    cold = what_if(model, data, add_part=[6], add_part_attr=add_attr, num_samples=SAMPLES, observation_noise=False)
    data.whole_attr = problem.conditions("sunday", 15.0).unsqueeze(0)
    torch.manual_seed(5)
    mild = what_if(model, data, add_part=[6], add_part_attr=add_attr, num_samples=SAMPLES, observation_noise=False)
    assert not torch.allclose(cold, mild)
    with pytest.raises(ValueError, match="add_part_attr must have shape"):
        what_if(model, data, add_part=[6])


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(remove=[4]), "no part 4 to remove: the observed whole has 4 parts"),
    (dict(remove=[-1]), "no part -1 to remove"),
    (dict(remove=[1, 1]), "remove names a part twice"),
    (dict(add_part=[10]), "added parts: part category out of range"),
    (dict(add_part=torch.tensor([1.0])), "added parts: part must be a 1D LongTensor"),
    (dict(num_samples=0), "num_samples must be an integer >= 1"),
])
def test_bad_edits_are_clear_errors(kwargs, message):
    model = CompVAE(CONFIG)
    with pytest.raises(ValueError, match=message):
        what_if(model, observed(), **kwargs)


def test_recompose_takes_one_whole():
    with pytest.raises(ValueError, match="one observed whole, got 2"):
        what_if(CompVAE(CONFIG), copies(observed(), 2))


def test_implausible_abducted_noise_gives_a_warning(monkeypatch, recwarn):
    counterfactual._warn_if_implausible([torch.randn(1000, 3)])
    assert not recwarn.list
    with pytest.warns(UserWarning, match="root mean square of 3.0 where 1 is expected"):
        counterfactual._warn_if_implausible([torch.full((10, 3), 3.0)])
    model = CompVAE(CONFIG).eval()
    monkeypatch.setattr(counterfactual, "IMPLAUSIBLE_NOISE_RMS", 0.0)  # recompose checks what it abducts
    with pytest.warns(UserWarning, match="unlike the model's training data"):
        what_if(model, observed(), remove=[0], num_samples=SAMPLES)


def households_model() -> tuple[CompVAE, Data, torch.Tensor]:
    """The households cpu preset's options, tiny: z first, a group-factor prior, rendered sums, descriptors, conditions.

    The observed feeder and the descriptors of two added households.
    """
    problem = HouseholdParts()
    torch.manual_seed(0)
    model = CompVAE(model_config_for(problem, w_dim=4, z_dim=3, hidden_dim=16, x_feature_dim=8, part_embed_dim=4,
                                     num_update_layers=1, z_first=True, prior_group_factor=True, render_channels=2,
                                     render_hidden_dim=4)).eval()
    generator = torch.Generator().manual_seed(0)
    observation = problem.observe(torch.tensor([0, 4, 4, 6]), whole_attr=problem.conditions("weekday", -5.0),
                                  generator=generator)
    return model, observation.data(), problem.sample_part_attr(torch.tensor([4, 2]), generator)


def sine_group_model() -> tuple[CompVAE, Data, None]:
    torch.manual_seed(0)
    return CompVAE(replace(CONFIG, **VARIANTS["group_prior"])).eval(), observed((3, 1, 3, 7)), None


@pytest.mark.parametrize("build", [sine_group_model, households_model], ids=["sine_group_prior", "households"])
def test_a_partial_edit_is_the_hand_replay_of_abduction_action_and_prediction(build):
    """Remove the part at position 1, add one of a kept category (it shares the abducted factor) and a new one.

    The replay uses the model's public pieces and recompose's draws in their order: the posterior, the abduction
    of the shared factors, the added parts' own noise, then fresh factors for the categories the observation had not.
    """
    model, data, add_attr = build()
    c = model.config
    kept_category = int(data.part[2])
    add = torch.tensor([kept_category, 2])
    conditions = model.conditions(getattr(data, "whole_attr", None), torch.zeros(SAMPLES, 0))
    torch.manual_seed(6)
    means = what_if(model, data, remove=[1], add_part=add, add_part_attr=add_attr, num_samples=SAMPLES,
                    observation_noise=False)
    torch.manual_seed(6)
    posterior = model.encode(copies(data, SAMPLES))
    w, z = posterior.w_dist.sample(), posterior.z
    attr = getattr(data, "part_attr", None)
    before = Multisets.of(data.part, attr).copies(SAMPLES)
    w_tilde = model.sum_parts(w, before.batch, SAMPLES, before.part, before.part_attr)
    z_prior = model.z_prior(before, conditions, w_tilde)
    day = (z - z_prior.loc) / z_prior.scale
    prior = model.part_prior(before, z if model.z_prior.draws_first else None)
    own, shared = prior.abduct(w)
    added_own = torch.randn(SAMPLES, 2, c.w_dim)
    table = torch.randn(SAMPLES, c.num_categories, c.w_dim)
    table[:, data.part.unique()] = shared.view(SAMPLES, -1, c.w_dim)
    keep = torch.tensor([True, False, True, True])
    part = torch.cat([data.part[keep], add])
    edited_attr = None if attr is None else torch.cat([attr[keep], add_attr])
    after = Multisets.of(part, edited_attr).copies(SAMPLES)
    own = torch.cat([own.view(SAMPLES, 4, c.w_dim)[:, keep], added_own], 1).flatten(0, 1)
    factors = table[:, part.unique()].flatten(0, 1)  # the kept category's factor is the abducted one
    if model.z_prior.draws_first:
        new_prior = model.z_prior(after, conditions)
        z = new_prior.loc + new_prior.scale * day
        w = model.part_prior(after, z).from_noise(own, factors)
        w_tilde = model.sum_parts(w, after.batch, SAMPLES, after.part, after.part_attr)
    else:
        w = model.part_prior(after).from_noise(own, factors)
        w_tilde = model.sum_parts(w, after.batch, SAMPLES, after.part, after.part_attr)
        new_prior = model.z_prior(after, conditions, w_tilde)
        z = new_prior.loc + new_prior.scale * day
    expected = model.decode(w_tilde, z, getattr(data, "whole_attr", None)).mean
    torch.testing.assert_close(means, expected)
