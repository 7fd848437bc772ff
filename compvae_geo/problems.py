"""The problems the command line knows, and the model configuration that fits each."""
from __future__ import annotations

from typing import Any

from compvae_geo.datasets import HouseholdParts, PartsProblem, SineParts, SiteParts

from .models.config import CompVAEConfig

PROBLEMS: dict[str, type[PartsProblem]] = {
    "sine": SineParts,
    "sites": SiteParts,
    "households": HouseholdParts,
}


def make_problem(name: str) -> PartsProblem:
    """A fresh problem of the name ``name`` (a key of :data:`PROBLEMS`)."""
    if name not in PROBLEMS:
        raise ValueError(f"unknown problem {name!r}; known: {sorted(PROBLEMS)}")
    return PROBLEMS[name]()


# The CompVAEConfig fields that a problem's data defines (model_config_for sets them).
DATA_DEFINED_MODEL_FIELDS = frozenset(
    {"num_categories", "obs_shape", "part_attr_dim", "whole_attr_dim", "observation"})


def problem_of_model(model_config: dict[str, Any]) -> str:
    """The name of the known problem a model config was built for.

    The name of the known problem whose data a model with config ``model_config`` (plain values,
    as in a checkpoint) was built for: the one whose data-defined fields it matches.
    """
    model_config = CompVAEConfig.from_dict(model_config).to_dict()  # fields added since it was written: defaults
    matches = [name for name, problem in PROBLEMS.items()
               if all(model_config_for(problem()).to_dict()[key] == model_config[key]
                      for key in DATA_DEFINED_MODEL_FIELDS)]
    if len(matches) != 1:
        described = {key: model_config.get(key) for key in sorted(DATA_DEFINED_MODEL_FIELDS)}
        raise ValueError(f"cannot tell which problem a model with {described} is for "
                         f"(candidates: {matches or sorted(PROBLEMS)}); name it")
    return matches[0]


def model_config_for(problem: PartsProblem, **overrides: Any) -> CompVAEConfig:
    """A :class:`CompVAEConfig` whose data-defined fields come from ``problem``."""
    return CompVAEConfig(
        num_categories=problem.num_categories,
        obs_shape=problem.obs_shape,
        part_attr_dim=problem.part_attr_dim,
        whole_attr_dim=problem.whole_attr_dim,
        observation=problem.observation,
        **overrides,
    )
