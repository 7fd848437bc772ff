"""The BDEW standard load profile (demandlib's H25) per day, and the planner's what-if edit built on it."""
import sys
import warnings

import pandas as pd
import pytest
import torch

from compvae_geo.datasets import HouseholdParts, SineParts
from compvae_geo.datasets.household_parts import SHARED
from compvae_geo.datasets.standard_profile import (
    PROFILE_ANNUAL_KWH,
    PROFILE_YEAR,
    StandardLoadProfile,
    _profile_days,
    standard_load_profile,
)

pytest.importorskip("demandlib")


def demandlib_year():
    """H25 for the whole year as demandlib computes it: [365, 96] kW per kWh a year, and the day types."""
    from demandlib.bdew import H25

    index = pd.date_range(f"{PROFILE_YEAR}-01-01", periods=365 * 96, freq="15min")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        power = torch.tensor(H25(index).to_numpy()).view(365, 96) / PROFILE_ANNUAL_KWH
    day_types = torch.tensor([0 if d < 5 else d - 4 for d in index[::96].day_of_week])
    return power, day_types


def test_each_date_of_the_year_gives_demandlibs_curve_of_that_date():
    power, day_types = demandlib_year()
    profile = standard_load_profile()
    for date in (0, 1, 45, 180, 181, 300, 364):
        torch.testing.assert_close(profile.day(date, int(day_types[date])), power[date], rtol=0, atol=0)
    # the year integrates to its annual energy, within demandlib's dynamisation (+-1 %)
    assert profile.days.sum() * 0.25 == pytest.approx(1.0, abs=0.01)
    assert (profile.days > 0).all()


@pytest.mark.parametrize("day_type", [0, 1, 2])
def test_another_day_type_takes_the_nearest_date_of_that_type(day_type):
    _, day_types = demandlib_year()
    profile = standard_load_profile()
    for date in (0, 3, 100, 362, 364):
        candidates = (day_types == day_type).nonzero()[:, 0]
        gap = torch.minimum((candidates - date).abs(), 365 - (candidates - date).abs())  # the year wraps around
        nearest = candidates[gap == gap.min()]
        chosen = profile.day(date, day_type)
        assert gap.min() <= 3 and any(torch.equal(chosen, profile.days[d]) for d in nearest)


def test_sunday_and_weekday_differ_and_the_evening_is_the_peak():
    profile = standard_load_profile()
    weekday, sunday = profile.day(20, 0), profile.day(20, 2)
    assert not torch.allclose(weekday, sunday)
    assert 16 <= int(weekday.argmax()) / 4 <= 21  # a household's winter peak: the evening


def test_fewer_steps_average_the_quarter_hours_and_others_are_refused():
    hourly = StandardLoadProfile(24)
    torch.testing.assert_close(hourly.days, standard_load_profile().days.view(365, 24, 4).mean(-1))
    daily = StandardLoadProfile(1)  # one value a day: the day's mean power
    torch.testing.assert_close(daily.days[:, 0], standard_load_profile().days.mean(-1))
    for steps in (0, 7, 192):
        with pytest.raises(ValueError, match="steps must divide it"):
            StandardLoadProfile(steps)
    with pytest.raises(ValueError, match="day_type must be 0"):
        hourly.day(3, 3)


def test_without_demandlib_the_error_names_the_extra(monkeypatch):
    _profile_days.cache_clear()
    monkeypatch.setitem(sys.modules, "demandlib.bdew", None)
    try:
        with pytest.raises(ImportError, match=r"pip install 'compvae_geo\[planner\]'"):
            StandardLoadProfile()
        # the what-if baseline is then left out, with a warning naming the extra
        standard_load_profile.cache_clear()
        problem = HouseholdParts()
        observation = problem.observe(torch.tensor([0, 3]), generator=torch.Generator().manual_seed(0))
        with pytest.warns(UserWarning, match=r"no standard-profile edit: .*compvae_geo\[planner\]"):
            assert problem.edit_by_standard_profile(observation, problem.check_edit(observation, remove=[0]), 2) is None
    finally:
        standard_load_profile.cache_clear()
        _profile_days.cache_clear()


def test_the_planners_edit_scales_the_kept_load_and_adds_the_profile_times_each_annual_energy():
    problem = HouseholdParts()
    generator = torch.Generator().manual_seed(0)
    observation = problem.observe(torch.tensor([0, 3, 5]), generator=generator)
    day = dict(zip(SHARED, observation.shared[0].tolist()))
    curve = standard_load_profile().day(day["day_of_year"], int(day["day_type"])).float()
    annual = observation.part_attr[:, 0]
    added = problem.sample_part_attr(torch.tensor([4, 6]), generator)
    edit = problem.check_edit(observation, remove=[1], add_part=[4, 6], add_part_attr=added)
    edited = problem.edit_by_standard_profile(observation, edit, 4)
    share = (annual[0] + annual[2]) / annual.sum()
    expected = share * observation.whole[0] + 1000 * (added[0, 0] + added[1, 0]) * curve  # MWh a year, kW per kWh
    torch.testing.assert_close(edited, expected.expand(4, -1))
    # in energy: the added households' day is about their annual consumption / 365 (H25's seasons: within 0.6-1.6x)
    added_kwh = float((edited[0] - share * observation.whole[0]).sum() * problem.step_hours)
    assert 0.6 < added_kwh / (1000 * float(added[:, 0].sum()) / 365) < 1.6
    # removing alone is the direct edit: both scale the observed load
    removal = problem.check_edit(observation, remove=[0, 2])
    torch.testing.assert_close(problem.edit_by_standard_profile(observation, removal, 2),
                               problem.edit_directly(observation.data(), removal, 2))
    assert SineParts().edit_by_standard_profile(observation, removal, 2) is None
