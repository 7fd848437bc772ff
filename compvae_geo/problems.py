"""The problems the command line knows, and the model configuration that fits each."""
from __future__ import annotations

from typing import Any

from compvae_geo.datasets import PartsProblem, SineParts, SiteParts

from .config import CompVAEConfig

PROBLEMS: dict[str, type[PartsProblem]] = {
    "sine": SineParts,
    "sites": SiteParts,
}


def make_problem(name: str) -> PartsProblem:
    if name not in PROBLEMS:
        raise ValueError(f"unknown problem {name!r}; known: {sorted(PROBLEMS)}")
    return PROBLEMS[name]()


def model_config_for(problem: PartsProblem, **overrides: Any) -> CompVAEConfig:
    """A :class:`CompVAEConfig` whose data-defined fields come from ``problem``."""
    return CompVAEConfig(
        num_categories=problem.num_categories,
        obs_shape=problem.obs_shape,
        part_attr_dim=problem.part_attr_dim,
        observation=problem.observation,
        **overrides,
    )
