"""Generated wholes against the true generator, per number of parts K."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from compvae_geo.datasets import PartsProblem

from .metrics import median_distance, mmd2_unbiased
from .model import CompVAE

DEFAULT_PART_COUNTS = (1, 2, 4, 8, 12, 16, 24, 32, 64)


@dataclass
class KReport:
    """Mean unbiased MMD^2 (RBF, bandwidth = median distance of the true wholes) at one K."""

    k: int
    mmd2_model: float  # CompVAE's generated wholes vs true ones
    mmd2_naive: float  # the naive simulator (parts through the non-linearity alone, summed) vs true
    mmd2_floor: float  # two independent true samples: the noise level of the estimate


@torch.no_grad()
def sample_distances(
    model: CompVAE,
    problem: PartsProblem,
    part_counts: tuple[int, ...] = DEFAULT_PART_COUNTS,
    num_samples: int = 256,
    multisets_per_k: int = 4,
    seed: int = 0,
) -> list[KReport]:
    """For each K, ``multisets_per_k`` random multisets (uniform categories), ``num_samples``
    wholes each from the model, the naive simulator and the true generator; MMD^2 averaged."""
    generator = torch.Generator().manual_seed(seed)
    model = model.eval()
    reports = []
    for k in part_counts:
        totals = torch.zeros(3, dtype=torch.float64)
        for _ in range(multisets_per_k):
            part = torch.randint(0, problem.num_categories, (k,), generator=generator)
            part_attr = problem.sample_part_attr(k, generator, torch.device("cpu"))
            true = problem.sample_wholes(part, num_samples, part_attr, generator)
            other_true = problem.sample_wholes(part, num_samples, part_attr, generator)
            naive = problem.naive_wholes(part, num_samples, part_attr, generator)
            generated = model.generate(part, num_samples, part_attr)
            bandwidth = median_distance(true)
            totals += torch.stack([mmd2_unbiased(x, true, bandwidth) for x in (generated, naive, other_true)])
        mean = (totals / multisets_per_k).tolist()
        reports.append(KReport(k, *mean))
    return reports


def format_table(reports: list[KReport]) -> str:
    lines = [f"{'K':>4} {'MMD2 model':>11} {'MMD2 naive':>11} {'model/naive':>12} {'noise floor':>12}"]
    for r in reports:
        ratio = r.mmd2_model / r.mmd2_naive if r.mmd2_naive > 0 else float("nan")
        lines.append(f"{r.k:>4} {r.mmd2_model:>11.4f} {r.mmd2_naive:>11.4f} {ratio:>12.2f} {r.mmd2_floor:>12.4f}")
    return "\n".join(lines)


def as_json(reports: list[KReport]) -> list[dict]:
    return [asdict(r) for r in reports]
