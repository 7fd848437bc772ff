"""The problems the command line knows, and the model configuration that fits each."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .models.config import DATA_DEFINED_MODEL_FIELDS, CompVAEConfig

if TYPE_CHECKING:
    from compvae_geo.datasets import DataEncoding, PartsProblem

# The problems by name: their classes in compvae_geo.datasets (imported on first use: they import torch)
PROBLEM_CLASSES = {"sine": "SineParts", "sites": "SiteParts", "households": "HouseholdParts"}
PROBLEM_NAMES = tuple(sorted(PROBLEM_CLASSES))

__all__ = ["DATA_DEFINED_MODEL_FIELDS", "PROBLEM_CLASSES", "PROBLEM_NAMES", "make_problem", "model_config_for",
           "model_problem", "model_terms", "problem_class", "problem_of_model"]


def problem_class(name: str) -> type[PartsProblem]:
    """The class of the problem ``name`` (a key of :data:`PROBLEM_CLASSES`)."""
    if name not in PROBLEM_CLASSES:
        raise ValueError(f"unknown problem {name!r}; known: {list(PROBLEM_NAMES)}")
    from compvae_geo import datasets

    return getattr(datasets, PROBLEM_CLASSES[name])


def make_problem(name: str) -> PartsProblem:
    """A fresh problem of the name ``name`` (a key of :data:`PROBLEM_CLASSES`)."""
    return problem_class(name)()


def problem_of_model(model_config: dict[str, Any]) -> str:
    """The name of the known problem a model config was built for.

    The name of the known problem whose data a model with config ``model_config`` (plain values,
    as in a checkpoint) was built for: the one whose data-defined fields it matches.
    """
    model_config = CompVAEConfig.from_dict(model_config).to_dict()  # fields added since it was written: defaults
    matches = [name for name in PROBLEM_NAMES
               if all(model_config_for(make_problem(name)).to_dict()[key] == model_config[key]
                      for key in DATA_DEFINED_MODEL_FIELDS)]
    if len(matches) != 1:
        described = {key: model_config.get(key) for key in sorted(DATA_DEFINED_MODEL_FIELDS)}
        raise ValueError(f"cannot tell which problem a model with {described} is for "
                         f"(candidates: {matches or list(PROBLEM_NAMES)}); name it")
    return matches[0]


def model_config_for(problem: PartsProblem, **overrides: Any) -> CompVAEConfig:
    """A :class:`CompVAEConfig` whose data-defined fields (and ``noisy_wholes``) come from ``problem``."""
    return CompVAEConfig(**{
        "num_categories": problem.num_categories,
        "obs_shape": problem.obs_shape,
        "part_attr_dim": problem.part_attr_dim,
        "whole_attr_dim": problem.whole_attr_dim,
        "observation": problem.observation,
        "noisy_wholes": problem.noisy_wholes,
        **overrides,
    })


def model_problem(payload: dict[str, Any]) -> str | None:
    """The simulator a checkpoint's model learnt from (its training's, else the one its config fits); None for files."""
    training = payload.get("training", {}).get("config", {})
    if training.get("data") or payload.get("encoding") is not None:
        return None
    return training.get("problem") or problem_of_model(payload["config"])


def model_terms(payload: dict[str, Any]) -> DataEncoding:
    """The labels, conditions and units a checkpoint's model speaks: its files' encoding, or its simulator's."""
    from compvae_geo.datasets import DataEncoding

    if payload.get("encoding") is not None:
        return DataEncoding.from_dict(payload["encoding"])
    return make_problem(model_problem(payload)).encoding
