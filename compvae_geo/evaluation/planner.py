"""The numbers a grid planner reads off daily load curves: peaks, energy, timing, load duration, coincidence."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .config import PEAK_ERROR_KEYS, PEAK_QUANTILES

DURATION_SHARES = (0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0)  # points of the load-duration curve (share of time)


@dataclass
class PlannerStatistics:
    """What a planner reads off a sample of daily load curves ``[S, T]`` (kW) of one feeder."""

    peak_quantiles: list[float]  # the daily peak's quantiles at PEAK_QUANTILES (kW)
    energy_mean: float  # mean daily energy (kWh)
    energy_std: float  # standard deviation of daily energy (kWh)
    peak_hour: float  # mean hour of the daily peak
    load_duration: list[float]  # the load exceeded for each share of DURATION_SHARES of the time, pooled (kW)
    coincidence: float | None = None  # E[daily peak] / sum over households of E[daily peak alone]


def planner_statistics(days: Tensor, hours_per_step: float, peaks_alone: float | None = None) -> PlannerStatistics:
    """The statistics of daily curves ``days`` ``[S, T]``.

    ``peaks_alone`` is the sum over the feeder's households of their expected daily peak on their own
    (for the coincidence factor).
    """
    days = days.double()
    peaks, when = days.max(-1)
    energy = days.sum(-1) * hours_per_step
    pooled = days.flatten().sort(descending=True).values
    index = torch.tensor([round(share * (pooled.numel() - 1)) for share in DURATION_SHARES])
    mean_peak = float(peaks.mean())
    return PlannerStatistics(
        peak_quantiles=torch.quantile(peaks, torch.tensor(PEAK_QUANTILES, dtype=days.dtype)).tolist(),
        energy_mean=float(energy.mean()),
        energy_std=float(energy.std()),
        peak_hour=float((when.double() + 0.5).mean()) * hours_per_step,
        load_duration=pooled[index].tolist(),
        coincidence=None if peaks_alone is None else mean_peak / peaks_alone,
    )


def relative_errors(stats: PlannerStatistics, truth: PlannerStatistics) -> dict[str, float]:
    """Errors against the truth.

    Relative for the peak quantiles and the energy std, absolute for the coincidence factor (as the
    quality bars read them).
    """
    out = {key: abs(s / t - 1)
           for key, s, t in zip(PEAK_ERROR_KEYS, stats.peak_quantiles, truth.peak_quantiles, strict=True)}
    out["energy_std"] = abs(stats.energy_std / truth.energy_std - 1)
    if stats.coincidence is not None and truth.coincidence is not None:
        out["coincidence"] = abs(stats.coincidence - truth.coincidence)
    return out


def average(stats: list[PlannerStatistics]) -> PlannerStatistics:
    """The mean of each statistic over several multisets."""
    def mean(values: list[float]) -> float:
        return sum(values) / len(values)

    coincidences = [s.coincidence for s in stats]
    return PlannerStatistics(
        peak_quantiles=[mean(list(values)) for values in zip(*(s.peak_quantiles for s in stats), strict=True)],
        energy_mean=mean([s.energy_mean for s in stats]),
        energy_std=mean([s.energy_std for s in stats]),
        peak_hour=mean([s.peak_hour for s in stats]),
        load_duration=[mean(list(values)) for values in zip(*(s.load_duration for s in stats), strict=True)],
        coincidence=None if None in coincidences else mean(coincidences),
    )
