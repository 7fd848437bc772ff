"""The model as a map of noise: the noise abducted from a whole gives it back, with its descriptors and conditions."""
import pytest
import torch
from helpers import TINY_MODEL

from compvae_geo import CompVAE
from compvae_geo.datasets import HouseholdParts
from compvae_geo.problems import model_config_for
from compvae_geo.validation import check_wholes

OPTIONS = {"gaussian": {}, "per part": dict(per_part_decoder=True),
           "per part, no rendered sum": dict(per_part_decoder=True, render_channels=0),
           "jumps": dict(per_part_decoder=True, observation_jumps=True),
           "jumps reading renders": dict(per_part_decoder=True, observation_jumps=True, jumps_read_render=True),
           "jumps of two kinds": dict(per_part_decoder=True, observation_jumps=True, jump_kinds=2),
           "two kinds reading renders": dict(per_part_decoder=True, observation_jumps=True, jump_kinds=2,
                                             jumps_read_render=True)}


def households_model(**options):
    torch.manual_seed(0)
    config = model_config_for(HouseholdParts(), **{**TINY_MODEL, "render_channels": 2, "z_first": True,
                                                   "prior_group_factor": True, **options})
    return CompVAE(config).eval()


@pytest.mark.parametrize("options", list(OPTIONS.values()), ids=list(OPTIONS))
def test_abducted_noise_gives_the_observed_whole_back_only_with_its_own_descriptors_and_conditions(options):
    problem = HouseholdParts()
    model = households_model(**options)
    batch = problem.sample_batch(1, 4, generator=torch.Generator().manual_seed(3))
    wholes = check_wholes(batch, model.config).copies(2)
    torch.manual_seed(4)
    noise = model.abduct(wholes)  # by default with the observation's own noise
    assert noise.x is not None and noise.x.shape == (2, *model.observation.noise_shape((96,)))
    conditions = batch.whole_attr.expand(2, -1)
    again = model.wholes_from_noise(batch.part, noise, batch.part_attr, conditions)
    torch.testing.assert_close(again, batch.whole.expand(2, -1), atol=1e-3, rtol=1e-4)
    other_descriptors = model.wholes_from_noise(batch.part, noise, 2 * batch.part_attr, conditions)  # twice the energy
    other_day = model.wholes_from_noise(batch.part, noise, batch.part_attr, problem.conditions("sunday", 25.0))
    assert not torch.allclose(other_descriptors, again, atol=1e-3) and not torch.allclose(other_day, again, atol=1e-3)


@pytest.mark.parametrize("options", list(OPTIONS.values()), ids=list(OPTIONS))
def test_generation_noise_has_a_shared_factor_only_with_the_group_prior_and_the_observations_noise_shape(options):
    parts = torch.tensor([0, 3, 3])
    grouped = households_model(**options).generation_noise(parts, 5, observation_noise=True)
    assert grouped.shared.shape == (5, 2, grouped.own.size(-1))  # two categories among the parts
    assert grouped.x.shape == (5, *households_model(**options).observation.noise_shape((96,)))
    alone = households_model(prior_group_factor=False, **options).generation_noise(parts, 5)
    assert alone.shared is None and alone.x is None


def test_prior_latents_are_the_part_latents_drawn_under_the_descriptors_and_conditions():
    problem = HouseholdParts()
    model = households_model()
    parts = torch.tensor([0, 3, 5])
    attr = problem.sample_part_attr(parts, torch.Generator().manual_seed(0))
    cold, warm = problem.conditions("weekday", -5.0), problem.conditions("sunday", 25.0)
    draws = {}
    for name, (part_attr, whole_attr) in {"cold": (attr, cold), "warm": (attr, warm),
                                          "other descriptors": (attr.flip(0), cold)}.items():
        torch.manual_seed(1)
        draws[name] = model.prior_latents(parts, 4, part_attr, whole_attr)
        torch.manual_seed(1)
        torch.testing.assert_close(draws[name], model.draw_prior(parts, 4, part_attr, whole_attr)[0])
    assert draws["cold"].shape == (4, 3, model.config.w_dim) and model.prior_latents(parts, part_attr=attr).size(0) == 1
    assert not torch.allclose(draws["cold"], draws["warm"]) and not torch.allclose(draws["cold"],
                                                                                    draws["other descriptors"])
