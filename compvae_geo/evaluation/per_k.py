"""Generated wholes against the true generator and the baselines, per number of parts K."""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch
from torch import Tensor

from compvae_geo.datasets import PartsProblem

from ..codecs import get_codec
from ..models import LossTerms, SavableModel
from ..training.heldout import heldout_elbo_bits
from .config import NAIVE, TRUE, EvalConfig
from .metrics import (
    energy_distance,
    median_distance,
    mmd2_permutation_test,
    pooled_bandwidth,
    spectrum_distance,
    standardisation,
)
from .planner import PlannerStatistics, average, planner_statistics, relative_errors
from .profiles import profile_of
from .progress import stage

# (parts [K], part_attr [K, F] or None, whole_attr [C] or None, num_samples) -> wholes [num_samples, *obs_shape]
Sampler = Callable[[Tensor, "Tensor | None", "Tensor | None", int], Tensor]
SINGLE_PART_SAMPLES = 200  # wholes of each part alone, for the coincidence factor


@dataclass
class Distances:
    """One source of wholes against the true generator at one K, averaged over the multisets."""

    mmd2: float  # unbiased MMD^2, RBF kernel, bandwidth = median distance of the true wholes
    mmd2_pvalue: float  # median over the multisets of the permutation p-value of MMD^2
    energy: float  # energy distance
    spectrum: float | None = None  # relative L1 distance of mean power spectra (curves only)
    part_accuracy: float | None = None  # share of requested parts visible in the wholes (problems that define it)
    planner: PlannerStatistics | None = None  # mean over the multisets (problems with planner_hours_per_step)
    planner_errors: dict[str, float] | None = None  # mean over the multisets of the errors against the truth
    # the standard error of mmd2 and of energy from multiset to multiset (the std over the multisets / sqrt(their
    # number); None with one multiset): what tells 0.0022 from 0.0016
    mmd2_se: float | None = None
    energy_se: float | None = None


@dataclass
class KEvaluation:
    """Everything measured at one K."""

    k: int
    distances: dict[str, Distances]  # source name -> distances; TRUE is the noise floor
    elbo_bits: dict[str, LossTerms[float]] = field(default_factory=dict)  # model name -> mean terms in bits


def model_sampler(model: SavableModel, observation_noise: bool = False) -> Sampler:
    """A model's ``generate`` as a :data:`Sampler` (draws of p(x | ...) with ``observation_noise``, else its mean)."""
    return lambda part, part_attr, whole_attr, n: model.generate(part, n, part_attr, whole_attr, observation_noise)


def naive_sampler(problem: PartsProblem, generator: torch.Generator) -> Sampler:
    """The problem's naive simulator as a :data:`Sampler`."""
    return lambda part, part_attr, whole_attr, n: problem.naive_wholes(part, n, part_attr, whole_attr, generator)


@torch.no_grad()
def sample_distances(
    problem: PartsProblem,
    samplers: dict[str, Sampler],
    part_counts: tuple[int, ...] | None = None,
    num_samples: int = 256,
    multisets_per_k: int = 4,
    num_permutations: int = 200,
    seed: int = 0,
    whole_attr: Tensor | None = None,
    progress_name: str = "distances per K",
) -> dict[int, dict[str, Distances]]:
    """Distances of every sampler's wholes to the true ones, per K, averaged over random multisets.

    For each K (default: the problem's profile's, :func:`profile_of`), ``multisets_per_k`` random
    multisets (uniform categories); for each, the same ``num_samples`` true wholes compared with
    ``num_samples`` wholes of every sampler and of a second true sample (reported as :data:`TRUE`),
    all given the conditions ``whole_attr`` when given. Averages over the multisets. Problems whose profile has
    ``standardised_distances`` are compared on wholes standardised per position by the true sample;
    those with ``planner_hours_per_step`` also get :class:`PlannerStatistics` and their errors against the truth.

    The multisets and their true wholes come from one stream seeded by ``seed``; each multiset
    also draws a seed that reseeds the global RNG (the models' latent draws, the second true
    sample) and a fresh permutation-test generator before every sampler. So a sampler's numbers
    depend only on ``seed`` and the sampler, never on which other samplers are compared. Each multiset is a step of
    the progress stage ``progress_name`` (:mod:`~compvae_geo.evaluation.progress`).
    """
    data = torch.Generator().manual_seed(seed)
    samplers = {TRUE: lambda part, part_attr, attr, n: problem.sample_wholes(part, n, part_attr, attr), **samplers}
    profile = profile_of(problem)
    part_counts = part_counts or profile.part_counts
    out = {}
    with torch.random.fork_rng(devices=[]), stage(progress_name, len(part_counts) * multisets_per_k) as step:
        for k in part_counts:
            rows: dict[str, list[tuple[float, ...]]] = {name: [] for name in samplers}
            plans: dict[str, list[tuple[PlannerStatistics, dict[str, float]]]] = {name: [] for name in samplers}
            for multiset in range(multisets_per_k):
                part = torch.randint(0, problem.num_categories, (k,), generator=data)
                part_attr = problem.sample_part_attr(part, data)
                true = problem.sample_wholes(part, num_samples, part_attr, whole_attr, generator=data)
                scale = standardisation(true) if profile.standardised_distances else None
                true_scaled = true if scale is None else (true - scale[0]) / scale[1]
                true_bandwidth = median_distance(true_scaled)
                multiset_seed = int(torch.randint(torch.iinfo(torch.int64).max, (), generator=data))
                true_plan = None
                for name, sampler in samplers.items():
                    torch.manual_seed(multiset_seed)
                    permutations = torch.Generator().manual_seed(multiset_seed)
                    wholes = sampler(part, part_attr, whole_attr, num_samples).cpu()
                    if profile.planner_hours_per_step is not None:
                        alone = _peaks_alone(sampler, part, part_attr, whole_attr)
                        plan = planner_statistics(wholes, profile.planner_hours_per_step, alone)
                        if name == TRUE:  # the truth's statistics from its first sample, the other one's errors
                            true_plan = planner_statistics(true, profile.planner_hours_per_step, alone)
                        plans[name].append((plan, relative_errors(plan, true_plan)))
                    rows[name].append(_distances(problem, part, part_attr, wholes, (true, true_scaled), scale,
                                                 true_bandwidth, num_permutations, permutations))
                step(f"K={k}, multiset {multiset + 1}/{multisets_per_k}")
            out[k] = {name: _average(values, plans[name]) for name, values in rows.items()}
    return out


def _distances(
    problem: PartsProblem, part: Tensor, part_attr: Tensor | None, wholes: Tensor, truth: tuple[Tensor, Tensor],
    scale: tuple[Tensor, Tensor] | None, true_bandwidth: float, num_permutations: int, permutations: torch.Generator,
) -> tuple[float, ...]:
    """MMD^2, its p-value, the energy distance, the spectrum distance and the part accuracy of ``wholes``.

    ``truth``: the true wholes as they are and standardised by ``scale`` (centre, scale; None: not standardised).
    """
    true, true_scaled = truth
    scaled = wholes if scale is None else (wholes - scale[0]) / scale[1]
    bandwidth = true_bandwidth if true_bandwidth > 0 else pooled_bandwidth(true_scaled, scaled)
    mmd2, pvalue = mmd2_permutation_test(scaled, true_scaled, bandwidth, num_permutations, permutations)
    spectrum = float(spectrum_distance(wholes, true)) if get_codec(problem.observation).curves else math.nan
    accuracy = problem.part_accuracy(wholes, part, part_attr) if part.numel() else None
    return (float(mmd2), pvalue, float(energy_distance(scaled, true_scaled)), spectrum,
            math.nan if accuracy is None else accuracy)


def _peaks_alone(sampler: Sampler, part: Tensor, part_attr: Tensor | None, whole_attr: Tensor | None) -> float:
    """The sum over the multiset's parts of the mean daily peak of the sampler's wholes of that part alone."""
    total = 0.0
    for i in range(part.numel()):
        attr = None if part_attr is None else part_attr[i:i + 1]
        total += float(sampler(part[i:i + 1], attr, whole_attr, SINGLE_PART_SAMPLES).max(-1).values.mean())
    return total


def _average(rows: list[tuple[float, ...]], plans: list[tuple[PlannerStatistics, dict[str, float]]]) -> Distances:
    """Means over the multisets (the median for the p-value) and standard errors; NaN columns (not measured): None."""
    columns = torch.tensor(rows, dtype=torch.float64)
    mmd2, _, energy, spectrum, accuracy = columns.mean(0).tolist()
    measured = lambda value: None if math.isnan(value) else value  # noqa: E731
    distances = Distances(mmd2, float(columns[:, 1].median()), energy, measured(spectrum), measured(accuracy))
    if len(rows) > 1:
        distances.mmd2_se, distances.energy_se = (columns[:, [0, 2]].std(0) / math.sqrt(len(rows))).tolist()
    if plans:
        distances.planner = average([plan for plan, _ in plans])
        distances.planner_errors = {key: sum(errors[key] for _, errors in plans) / len(plans) for key in plans[0][1]}
    return distances


def evaluate(
    models: dict[str, SavableModel], problem: PartsProblem, config: EvalConfig | None = None,
    whole_attr: Tensor | None = None, heldout_elbo: bool = True, progress_name: str = "distances per K",
) -> list[KEvaluation]:
    """The per-K evaluation of learned models and the naive simulator against the true generator.

    Every learned model in ``models`` (name -> model) and the naive simulator against the true
    generator (:func:`sample_distances`), given the conditions ``whole_attr`` when given, plus, with
    ``heldout_elbo``, each model's held-out ELBO terms per K (on wholes of random conditions, all
    known: the same whatever ``whole_attr``, so one evaluation of several conditions needs them once).
    """
    config = config or EvalConfig()
    profile = profile_of(problem)
    part_counts = config.part_counts or profile.part_counts
    samplers = {name: model_sampler(model.eval(), problem.noisy_wholes) for name, model in models.items()}
    samplers[NAIVE] = naive_sampler(problem, torch.Generator().manual_seed(config.seed + 1))
    distances = sample_distances(problem, samplers, part_counts, config.num_samples, config.multisets_per_k,
                                 config.permutations, config.seed, whole_attr, progress_name)
    elbos = {name: heldout_elbo_bits(model, problem, part_counts, config.num_samples, config.seed)
             for name, model in models.items()} if heldout_elbo else {}
    return [KEvaluation(k, distances[k], {name: per_k[k] for name, per_k in elbos.items()}) for k in part_counts]


def as_json(evaluation: list[KEvaluation]) -> list[dict]:
    """Plain values: one dictionary per K."""
    return [{"k": row.k,
             "distances": {name: asdict(d) for name, d in row.distances.items()},
             "elbo_bits": {name: {**asdict(e), "elbo": e.elbo} for name, e in row.elbo_bits.items()}}
            for row in evaluation]


def as_metrics(evaluation: list[KEvaluation]) -> list[tuple[dict[str, float], int]]:
    """``(metrics, step)`` pairs for MLflow, with the step = K so that MLflow plots each metric against K.

    ``eval/<source>/mmd2``, ``.../energy``, ``.../elbo_bits``, ...
    """
    out = []
    for row in evaluation:
        metrics = {}
        for name, d in row.distances.items():
            metrics.update({f"eval/{name}/{key}": value for key, value in asdict(d).items()
                            if isinstance(value, (int, float))})
            metrics.update({f"eval/{name}/error_{key}": value for key, value in (d.planner_errors or {}).items()})
        for name, e in row.elbo_bits.items():
            metrics.update({f"eval/{name}/{key}_bits": value for key, value in
                            {"w": e.w, "z": e.z, "x": e.x, "elbo": e.elbo}.items()})
        out.append((metrics, row.k))
    return out
