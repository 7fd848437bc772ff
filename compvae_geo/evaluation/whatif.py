"""What-if recomposition of observed wholes against the true what-if wholes, per number of parts and kind of edit.

For an observed whole drawn from the problem's generator, the truth keeps its shared factors and the hidden
variation of its kept parts, removes the removed parts and draws the added ones afresh
(:meth:`~compvae_geo.datasets.PartsProblem.sample_counterfactual`). Against it: the model's
:func:`~compvae_geo.structural.recompose`, and what a user has without it: the model generating the edited
multiset from scratch (it forgets the observed day, but knows its conditions), and where the problem has one, the
direct edit of the observed whole (:meth:`~compvae_geo.datasets.PartsProblem.edit_directly`) and the edit with the
field's standard profiles (:meth:`~compvae_geo.datasets.PartsProblem.edit_by_standard_profile`).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from torch import Tensor

from compvae_geo.datasets import Edit, Observation, PartsProblem

from ..models import CompVAE
from ..structural import recompose
from .config import DIRECT_EDIT, FROM_SCRATCH, STANDARD_PROFILE, TRUE, EvalConfig
from .metrics import energy_distance, median_distance, mmd2_unbiased, pooled_bandwidth, standardisation
from .profiles import profile_of
from .progress import stage

EDIT_KINDS = ("add 1", "add half", "remove 1", "remove half", "swap half")  # half: max(1, n // 2) parts

# (observation, its edit, num_samples) -> what-if wholes [num_samples, *obs_shape], or None (a baseline a problem lacks)
WhatIfSampler = Callable[[Observation, Edit, int], "Tensor | None"]


@dataclass
class WhatIfDistances:
    """One source's what-if wholes against the true ones, averaged over the observations of one cell."""

    mmd2: float  # unbiased MMD^2, RBF kernel, bandwidth: the median distance of the edited multiset's wholes
    energy: float  # energy distance
    # the mean change of the whole's sum from the observed whole's (households: the daily energy, in kW x steps)
    sum_change: float | None = None


@dataclass
class WhatIfCell:
    """Everything measured for one number of parts n and one kind of edit."""

    n: int
    edit: str
    distances: dict[str, WhatIfDistances]  # source name -> distances; TRUE: a second true sample (the noise floor)


def draw_edit(kind: str, problem: PartsProblem, observation: Observation, generator: torch.Generator) -> Edit:
    """A random edit of ``kind`` (one of :data:`EDIT_KINDS`) of an observation, with descriptors for added parts.

    ``swap half`` replaces half of the parts (at least one) by parts of other categories.
    """
    n = observation.part.numel()
    if n == 0 and kind not in ("add 1", "add half"):
        raise ValueError(f"cannot {kind} of a whole with no parts")
    half = max(1, n // 2)
    order = torch.randperm(n, generator=generator)
    remove, add = order[:0], torch.empty(0, dtype=torch.long)
    if kind == "add 1" or kind == "add half":
        add = torch.randint(0, problem.num_categories, (1 if kind == "add 1" else half,), generator=generator)
    elif kind == "remove 1" or kind == "remove half":
        remove = order[: 1 if kind == "remove 1" else half]
    elif kind == "swap half":
        remove = order[:half]
        shift = torch.randint(1, problem.num_categories, (remove.numel(),), generator=generator)
        add = (observation.part[remove] + shift) % problem.num_categories
    else:
        raise ValueError(f"unknown edit {kind!r}; known: {list(EDIT_KINDS)}")
    add_part_attr = problem.sample_part_attr(add, generator)
    return problem.check_edit(observation, remove, add, add_part_attr)


def recompose_sampler(model: CompVAE) -> WhatIfSampler:
    """The model's :func:`~compvae_geo.structural.recompose` (the observation's noise carried over)."""
    return lambda observation, edit, n: recompose(model, observation.data(), edit, n)


def from_scratch_sampler(model: CompVAE, observation_noise: bool) -> WhatIfSampler:
    """The model's ``generate`` of the edited multiset, given the observation's conditions."""
    def sample(observation: Observation, edit: Edit, n: int) -> Tensor:
        part, part_attr = edit.edited_parts(observation.part, observation.part_attr)
        return model.generate(part, n, part_attr, observation.whole_attr, observation_noise)

    return sample


@torch.no_grad()
def whatif_cells(
    problem: PartsProblem, samplers: dict[str, WhatIfSampler], part_counts: tuple[int, ...],
    edits: tuple[str, ...] = EDIT_KINDS, num_samples: int = 256, observations: int = 4, seed: int = 0,
) -> list[WhatIfCell]:
    """Distances of every sampler's what-if wholes to the true ones, per n and kind of edit.

    For each n in ``part_counts`` and edit kind, ``observations`` observed wholes of n random parts on random
    days, each with a random edit (:func:`draw_edit`); ``num_samples`` true what-if wholes against
    ``num_samples`` of each sampler and of a second true sample (:data:`TRUE`). Curves of problems whose profile
    has ``standardised_distances`` are standardised per position by the problem's own wholes of the edited
    multiset under the observation's conditions, whose median distance is also the MMD^2 bandwidth. The observations,
    edits and true wholes come from one stream seeded by ``seed``; each observation reseeds the global RNG
    before every sampler, so a sampler's numbers do not depend on the others compared.
    """
    data = torch.Generator().manual_seed(seed)
    profile = profile_of(problem)

    def truth(observation: Observation, edit: Edit, n: int, generator: torch.Generator | None = None) -> Tensor:
        return problem.sample_counterfactual(observation, edit, n, generator)

    samplers = {TRUE: truth, **samplers}
    cells = []
    with torch.random.fork_rng(devices=[]), stage("what-if", len(part_counts) * len(edits)) as step:
        for n in part_counts:
            for kind in edits:
                rows: dict[str, list[tuple[float, float]]] = {name: [] for name in samplers}
                for _ in range(observations):
                    part = torch.randint(0, problem.num_categories, (n,), generator=data)
                    observation = problem.observe(part, generator=data)
                    edit = draw_edit(kind, problem, observation, data)
                    true = truth(observation, edit, num_samples, data)
                    edited, edited_attr = edit.edited_parts(observation.part, observation.part_attr)
                    reference = problem.sample_wholes(edited, num_samples, edited_attr, observation.whole_attr, data)
                    centre, scale = standardisation(reference) if profile.standardised_distances else (0.0, 1.0)
                    reference = (reference - centre) / scale
                    bandwidth = median_distance(reference)
                    true_scaled = (true - centre) / scale
                    observation_seed = int(torch.randint(torch.iinfo(torch.int64).max, (), generator=data))
                    for name, sampler in samplers.items():
                        torch.manual_seed(observation_seed)
                        wholes = sampler(observation, edit, num_samples)
                        if wholes is None:  # a baseline the problem does not have
                            continue
                        scaled = (wholes.cpu() - centre) / scale
                        width = bandwidth if bandwidth > 0 else pooled_bandwidth(reference, scaled)
                        rows[name].append((float(mmd2_unbiased(scaled, true_scaled, width)),
                                           float(energy_distance(scaled, true_scaled)),
                                           float(wholes.cpu().flatten(1).sum(-1).mean() - observation.whole.sum())))
                cells.append(WhatIfCell(n, kind, {name: WhatIfDistances(*torch.tensor(values).mean(0).tolist())
                                                  for name, values in rows.items() if values}))
                step(f"n={n}, {kind}")
    return cells


def evaluate_whatif(models: dict[str, CompVAE], problem: PartsProblem, config: EvalConfig | None = None,
                    part_counts: tuple[int, ...] | None = None) -> list[WhatIfCell]:
    """The what-if evaluation of each CompVAE in ``models``, beside the baselines of the first one.

    :data:`FROM_SCRATCH` (the first model's ``generate``) and, where the problem has them, :data:`DIRECT_EDIT` and
    :data:`STANDARD_PROFILE` (households, with ``demandlib``: the ``planner`` extra);
    sizes from ``config`` (``num_samples`` what-if wholes, ``multisets_per_k`` observations per cell, ``seed``), at
    ``part_counts`` (default: the config's, else the problem's profile's).
    """
    config = config or EvalConfig()
    if not models:
        raise ValueError("the what-if evaluation needs a CompVAE (a model with recompose)")
    samplers: dict[str, WhatIfSampler] = {name: recompose_sampler(model.eval()) for name, model in models.items()}
    first = next(iter(models.values()))
    samplers[FROM_SCRATCH] = from_scratch_sampler(first, problem.noisy_wholes)
    direct = torch.Generator().manual_seed(config.seed + 1)
    samplers[DIRECT_EDIT] = lambda observation, edit, n: problem.edit_directly(observation.data(), edit, n, direct)
    samplers[STANDARD_PROFILE] = lambda observation, edit, n: problem.edit_by_standard_profile(observation, edit, n,
                                                                                             direct)
    return whatif_cells(problem, samplers, part_counts or config.part_counts or profile_of(problem).part_counts,
                        num_samples=config.num_samples, observations=config.multisets_per_k, seed=config.seed)


def as_json(cells: list[WhatIfCell]) -> list[dict]:
    """Plain values: one dictionary per cell."""
    return [{"n": cell.n, "edit": cell.edit, "distances": {name: asdict(d) for name, d in cell.distances.items()}}
            for cell in cells]


def as_metrics(cells: list[WhatIfCell]) -> list[tuple[dict[str, float], int]]:
    """``(metrics, step)`` pairs for MLflow with the step = n.

    ``whatif/<source>/<edit>/energy``, ``.../mmd2`` and ``.../sum_change``.
    """
    by_n: dict[int, dict[str, float]] = {}
    for cell in cells:
        edit = cell.edit.replace(" ", "_")
        for name, d in cell.distances.items():
            by_n.setdefault(cell.n, {}).update({f"whatif/{name}/{edit}/energy": d.energy,
                                                f"whatif/{name}/{edit}/mmd2": d.mmd2})
            if d.sum_change is not None:
                by_n[cell.n][f"whatif/{name}/{edit}/sum_change"] = d.sum_change
    return [(metrics, n) for n, metrics in by_n.items()]
