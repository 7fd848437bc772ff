"""Drawing the wholes of a request: the settings a caller may choose, and the one call that draws them."""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import torch
from torch import Tensor

from ..models import CompVAE, SavableModel
from ..problems import make_problem, model_problem
from ..structural import generate_tail
from ..structural.tail import STATISTICS, TailSample
from .requests import WholeRequest

MAX_SAMPLES = 100_000  # per whole and request: what one answer may hold


@dataclass(frozen=True)
class GenerationSettings:
    """How many wholes to draw per request, from which seed, with or without the observation noise, peak days or not."""

    num_samples: int = 100
    seed: int = 0
    observation_noise: bool = True  # draws of p(x | ...); False: its mean
    tail_quantile: float = 0.0  # > 0: only wholes whose statistic exceeds this quantile under the model...
    tail_statistic: str = "peak"  # ...the largest value ("peak"), the sum ("energy") or the "mean" (generate_tail)

    @classmethod
    def of(cls, params: dict[str, Any], model: SavableModel, observation_noise: bool) -> GenerationSettings:
        """The settings of ``params`` (names of the fields; ``observation_noise`` by default), checked."""
        unknown = sorted(set(params) - {field.name for field in fields(cls)})
        if unknown:
            raise ValueError(f"unknown parameter(s) {unknown}; known: {[field.name for field in fields(cls)]}")
        settings = cls(**{"observation_noise": observation_noise, **params})
        if not 1 <= int(settings.num_samples) <= MAX_SAMPLES:
            raise ValueError(f"num_samples must be in 1..{MAX_SAMPLES}, got {settings.num_samples}")
        if not 0 <= settings.tail_quantile < 1:
            raise ValueError(f"tail_quantile must be 0 (no tail) or in (0, 1), got {settings.tail_quantile}")
        if settings.tail_quantile and not isinstance(model, CompVAE):
            raise ValueError(f"peak days (tail_quantile) need a CompVAE, not a {model.model_name}")
        if settings.tail_statistic not in STATISTICS:
            raise ValueError(f"tail_statistic must be one of {sorted(STATISTICS)}, got {settings.tail_statistic!r}")
        return settings


@dataclass(frozen=True)
class Draw:
    """The wholes of one request in the model's units, and the tail sampler's account where it drew them."""

    wholes: Tensor  # [num_samples, *obs_shape]
    tail: TailSample | None = None


def measured_with_noise(payload: dict[str, Any]) -> bool:
    """Whether the evaluation measures a checkpoint's model with its observation noise (what a caller gets by default).

    A model of files: yes (observed wholes are noisy); of a simulator: as the simulator says (``noisy_wholes``), also
    for checkpoints written before their config said it.
    """
    problem = model_problem(payload)
    return True if problem is None else make_problem(problem).noisy_wholes


@torch.no_grad()
def draw_wholes(model: SavableModel, request: WholeRequest, settings: GenerationSettings) -> Draw:
    """The wholes of one request, seeded by the settings alone.

    So a whole's draws depend on the seed, its parts and its conditions, never on the other wholes of a request.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings.seed)
        if settings.tail_quantile:
            tail = generate_tail(model, request.parts, settings.num_samples, settings.tail_statistic,
                                 settings.tail_quantile, model.encoded_descriptors(request.part_attr),
                                 request.whole_attr, settings.observation_noise)
            return Draw(model.in_file_units(tail.wholes), tail)
        return Draw(model.generate(request.parts, settings.num_samples, request.part_attr, request.whole_attr,
                                   settings.observation_noise))
