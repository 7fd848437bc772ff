"""The BDEW standard load profile of households: what a planner assumes of a household it knows by its annual energy.

German grid planners draw a household they know only by its annual consumption from the BDEW standard load profile
(the 2025 revision, H25: a mean curve per month and day type, times a dynamisation polynomial of the day of the
year), as ``demandlib`` computes it. It is a mean: every household of the same consumption gets the same curve.
Needs the ``planner`` extra (``pip install 'compvae_geo[planner]'``).
"""
from __future__ import annotations

import datetime
import warnings
from functools import lru_cache

import torch
from torch import Tensor

PROFILE_ANNUAL_KWH = 1e6  # demandlib's profiles are in kW for 1 GWh a year
PROFILE_STEPS = 96  # its quarter-hours per day
PROFILE_DAYS = 365  # days of PROFILE_YEAR
PROFILE_YEAR = 2023  # the calendar year whose days are used (not a leap year, no holidays)
DAY_TYPE_OF_WEEKDAY = (0, 0, 0, 0, 0, 1, 2)  # Monday..Sunday as the positions of ("weekday", "saturday", "sunday")


class StandardLoadProfile:
    r"""H25 of ``demandlib``, per day: :meth:`day` gives the power in kW of a household of 1 kWh a year.

    The profile of a day of the year and a day type is the one of the nearest date of :data:`PROFILE_YEAR` with that
    day type (at most three days away), so that the month and the dynamisation are those of the day asked for.

    Args:
        steps (int): values per day: 96 quarter-hours, or a divisor of 96 (the quarter-hours averaged).
    """

    def __init__(self, steps: int = PROFILE_STEPS) -> None:
        if steps < 1 or PROFILE_STEPS % steps:
            raise ValueError(f"the standard load profile has {PROFILE_STEPS} quarter-hours a day: steps must divide "
                             f"it, got {steps}")
        days = _profile_days()
        self.days = days.view(days.size(0), steps, PROFILE_STEPS // steps).mean(-1)  # [365, steps]
        first = datetime.date(PROFILE_YEAR, 1, 1).weekday()  # 0: Monday
        self.day_type = torch.tensor(DAY_TYPE_OF_WEEKDAY)[(first + torch.arange(days.size(0))) % 7]

    def day(self, day_of_year: float, day_type: int) -> Tensor:
        """The power ``[steps]`` (kW per kWh a year) of a day of ``day_type`` (0 weekday, 1 Saturday, 2 Sunday)."""
        if day_type not in (0, 1, 2):
            raise ValueError(f"day_type must be 0 (weekday), 1 (Saturday) or 2 (Sunday), got {day_type}")
        candidates = (self.day_type == day_type).nonzero()[:, 0]
        distance = (candidates - float(day_of_year)).abs()
        distance = torch.minimum(distance, self.days.size(0) - distance)  # the year wraps around
        return self.days[candidates[distance.argmin()]]


@lru_cache(maxsize=1)
def _profile_days() -> Tensor:
    """H25 for every day of :data:`PROFILE_YEAR`, ``[365, 96]`` kW per kWh a year (float64)."""
    try:
        import pandas as pd
        from demandlib.bdew import H25
    except ImportError:
        raise ImportError("the standard load profile needs demandlib: pip install 'compvae_geo[planner]'") from None
    index = pd.date_range(f"{PROFILE_YEAR}-01-01", periods=PROFILE_DAYS * PROFILE_STEPS, freq="15min")
    with warnings.catch_warnings():  # demandlib 0.2 uses pandas' deprecated in-place methods
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        power = H25(index).to_numpy()
    return torch.tensor(power).view(PROFILE_DAYS, PROFILE_STEPS) / PROFILE_ANNUAL_KWH


@lru_cache(maxsize=4)
def standard_load_profile(steps: int = PROFILE_STEPS) -> StandardLoadProfile:
    """The :class:`StandardLoadProfile` of ``steps`` values a day, built once."""
    return StandardLoadProfile(steps)
