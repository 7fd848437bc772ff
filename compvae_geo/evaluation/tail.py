"""The tail sampler against rejection sampling from the model and from the truth, per number of parts and quantile.

For a random multiset of n parts and a quantile q of the problem's tail statistic (households: the daily peak):
rejection sampling from the model (the top 1 - q of ``num_samples / (1 - q)`` generated wholes, twice: two
independent draws of the model's exact conditional), from the true generator (the true tail) and from the naive
simulator, against :func:`~compvae_geo.structural.generate_tail`.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from torch import Tensor

from compvae_geo.datasets import PartsProblem

from ..models import CompVAE
from ..structural.subset_simulation import TailSettings
from ..structural.tail import CHUNK_SAMPLES, generate_tail, statistic_function
from .config import EvalConfig
from .metrics import energy_distance, median_distance, mmd2_unbiased, pooled_bandwidth, standardisation
from .profiles import profile_of
from .progress import stage

TAIL_QUANTILES = (0.99, 0.999)
STATISTIC_QUANTILES = (0.1, 0.5, 0.9)  # of the statistic within the tail, reported per source
MAX_REFERENCE_DRAWS = 50_000  # wholes drawn from the true generator or the naive simulator per cell (at most)


@dataclass
class TailCell:
    """Everything measured for one n and one quantile q."""

    n: int
    quantile: float
    threshold: dict[str, float]  # source -> its estimate of the q-quantile of the statistic
    threshold_error: float  # the tail sampler's Monte-Carlo standard error of it
    energy: dict[str, float]  # "sampler", "rejection" (a second rejection set), "true", "naive" -> to the model's
    # exact conditional (the first rejection set), and "model_to_true", "naive_to_true"
    mmd2: dict[str, float]  # the same pairs
    statistic_quantiles: dict[str, list[float]]  # source -> STATISTIC_QUANTILES of the statistic in its tail
    sampler_cost: float  # the sampler's model evaluations per effective sample, all included
    chain_cost: float  # the same for its sampling chains alone: what each further sample costs
    rejection_cost: float  # 1 / (1 - q): evaluations per (independent) sample by rejection
    effective_samples: float
    samples: dict[str, int]  # tail wholes per source


def top_share(wholes: Tensor, statistic: Tensor, quantile: float) -> tuple[Tensor, float]:
    """The wholes whose statistic exceeds its empirical ``quantile``, and that quantile."""
    level = float(torch.quantile(statistic.double(), quantile))
    return wholes[statistic > level], level


def _rejection(sample: Callable[[int], Tensor], measure: Callable[[Tensor], Tensor], draws: int,
               quantile: float) -> tuple[Tensor, float]:
    """Rejection sampling: the top ``1 - quantile`` of ``draws`` wholes of ``sample``, and their level."""
    wholes = torch.cat([sample(min(CHUNK_SAMPLES * 16, draws - start))
                        for start in range(0, draws, CHUNK_SAMPLES * 16)])
    return top_share(wholes, measure(wholes), quantile)


@torch.no_grad()
def evaluate_tail(
    model: CompVAE, problem: PartsProblem, config: EvalConfig | None = None,
    quantiles: tuple[float, ...] = TAIL_QUANTILES, settings: TailSettings | None = None,
) -> list[TailCell]:
    """The tail evaluation of one model: per n and q, the measurements of :class:`TailCell`.

    At each n of ``config.tail_part_counts``: ``config.tail_samples`` wholes in each rejection set of the model
    (from ``tail_samples / (1 - q)`` draws), at most :data:`MAX_REFERENCE_DRAWS` draws for the truth and the
    naive simulator, ``config.tail_sampler_samples`` from the tail sampler (with ``settings``). Distances on
    wholes standardised per position by unconditional true wholes where the problem says so, with their median
    distance as the MMD^2 bandwidth. The multisets, the truth and the naive simulator come
    from a stream seeded by ``config.seed``, the model's draws from the global RNG seeded by it (restored after).
    """
    config = config or EvalConfig()
    data = torch.Generator().manual_seed(config.seed)
    cells = []
    with torch.random.fork_rng(devices=[]), stage("peak days", len(config.tail_part_counts) * len(quantiles)) as step:
        torch.manual_seed(config.seed)
        for n in config.tail_part_counts:
            part = torch.randint(0, problem.num_categories, (n,), generator=data)
            part_attr = problem.sample_part_attr(part, data)
            for q in quantiles:
                cells.append(_tail_cell(model, problem, part, part_attr, q, config.tail_samples,
                                        config.tail_sampler_samples, data, settings))
                step(f"n={n}, q={q}")
    return cells


def _tail_cell(
    model: CompVAE, problem: PartsProblem, part: Tensor, part_attr: Tensor | None, quantile: float,
    tail_samples: int, sampler_samples: int, data: torch.Generator, settings: TailSettings | None,
) -> TailCell:
    profile = profile_of(problem)
    measure = statistic_function(profile.tail_statistic)
    noisy = problem.noisy_wholes
    plain = problem.sample_wholes(part, 1000, part_attr, generator=data)
    centre, scale = standardisation(plain) if profile.standardised_distances else (0.0, 1.0)
    bandwidth = median_distance((plain - centre) / scale)
    draws = math.ceil(tail_samples / (1 - quantile))
    reference_draws = min(draws, MAX_REFERENCE_DRAWS)

    def model_sample(k: int) -> Tensor:
        return model.generate(part, k, part_attr, observation_noise=noisy)

    first, model_level = _rejection(model_sample, measure, draws, quantile)
    second, _ = _rejection(model_sample, measure, draws, quantile)
    true, true_level = _rejection(lambda k: problem.sample_wholes(part, k, part_attr, generator=data), measure,
                                  reference_draws, quantile)
    naive, naive_level = _rejection(lambda k: problem.naive_wholes(part, k, part_attr, generator=data), measure,
                                    reference_draws, quantile)
    tail = generate_tail(model, part, sampler_samples, measure, quantile, part_attr, observation_noise=noisy,
                               settings=settings)
    sets = {"sampler": tail.wholes.cpu(), "rejection": second, "true": true, "naive": naive, "model": first}
    scaled = {name: (wholes - centre) / scale for name, wholes in sets.items()}
    pairs = {"sampler": ("sampler", "model"), "rejection": ("rejection", "model"),
             "model_to_true": ("model", "true"), "naive_to_true": ("naive", "true")}
    energy, mmd2 = {}, {}
    for label, (a, b) in pairs.items():
        width = bandwidth if bandwidth > 0 else pooled_bandwidth(scaled[a], scaled[b])
        energy[label] = float(energy_distance(scaled[a], scaled[b]))
        mmd2[label] = float(mmd2_unbiased(scaled[a], scaled[b], width))
    levels = torch.tensor(STATISTIC_QUANTILES, dtype=torch.float64)
    statistic_quantiles = {name: torch.quantile(measure(wholes).double(), levels).tolist()
                           for name, wholes in sets.items()}
    return TailCell(
        part.numel(), quantile,
        {"sampler": tail.threshold, "model": model_level, "true": true_level, "naive": naive_level},
        tail.threshold_error, energy, mmd2, statistic_quantiles, tail.evaluations / tail.effective_samples,
        tail.chain_evaluations / tail.effective_samples, 1 / (1 - quantile), tail.effective_samples,
        {name: int(wholes.size(0)) for name, wholes in sets.items()})


def as_json(cells: list[TailCell]) -> list[dict]:
    """Plain values: one dictionary per cell."""
    return [asdict(cell) for cell in cells]


def as_metrics(cells: list[TailCell]) -> list[tuple[dict[str, float], int]]:
    """``(metrics, step)`` pairs for MLflow, step = n: ``tail/q0.99/energy_sampler``, ``.../sampler_cost``, ..."""
    by_n: dict[int, dict[str, float]] = {}
    for cell in cells:
        prefix = f"tail/q{cell.quantile:g}"
        metrics = by_n.setdefault(cell.n, {})
        metrics.update({f"{prefix}/energy_{key}": value for key, value in cell.energy.items()})
        metrics.update({f"{prefix}/threshold_{key}": value for key, value in cell.threshold.items()})
        metrics.update({f"{prefix}/sampler_cost": cell.sampler_cost, f"{prefix}/chain_cost": cell.chain_cost,
                        f"{prefix}/rejection_cost": cell.rejection_cost})
    return [(metrics, n) for n, metrics in by_n.items()]
