"""What an evaluation measures of each problem: its policy, kept apart from the problem's generator."""
from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from compvae_geo.datasets import PartsProblem


@dataclass(frozen=True)
class EvaluationProfile:
    """How the wholes of a problem are compared, and at which numbers of parts."""

    part_counts: tuple[int, ...]  # the K worth evaluating: the training range and beyond
    standardised_distances: bool = False  # compare wholes standardised per position by the true sample
    planner_hours_per_step: float | None = None  # wholes are daily load curves with steps this long (hours)
    tail_statistic: str = "peak"  # the statistic whose tail the evaluation samples (a name of structural.STATISTICS)
    # named conditions the evaluation also measures the models under: the arguments of the problem's conditions()
    conditions: tuple[tuple[str, tuple], ...] = ()

    def named_conditions(self, problem: PartsProblem) -> dict[str, Tensor]:
        """The conditions (``whole_attr``) of :attr:`conditions`, by name, encoded by ``problem``."""
        return {name: problem.conditions(*arguments) for name, arguments in self.conditions}


PROFILES: dict[str, EvaluationProfile] = {  # by the class name of the problem
    "SineParts": EvaluationProfile(part_counts=(1, 2, 4, 8, 12, 16, 24, 32, 64)),  # training reaches 16
    "SiteParts": EvaluationProfile(part_counts=(1, 2, 4, 8, 12, 16), tail_statistic="mean"),  # training reaches 8;
    # the tail: the brightest images
    "HouseholdParts": EvaluationProfile(
        part_counts=(1, 2, 4, 8, 16, 32, 64, 128),  # training reaches 32
        standardised_distances=True,  # a kW at n = 128 is not a kW at n = 1
        planner_hours_per_step=0.25,
        conditions=(("cold weekday (-5 degC)", ("weekday", -5.0)), ("mild Sunday (15 degC)", ("sunday", 15.0))),
    ),
}


def profile_of(problem: PartsProblem) -> EvaluationProfile:
    """The profile of ``problem``'s class (or of the nearest base class that has one)."""
    for cls in type(problem).__mro__:
        if cls.__name__ in PROFILES:
            return PROFILES[cls.__name__]
    raise ValueError(f"no evaluation profile for {type(problem).__name__}: add one to "
                     "compvae_geo.evaluation.profiles.PROFILES")
