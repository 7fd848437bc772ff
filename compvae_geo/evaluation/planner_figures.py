"""What a planner reads, drawn against the number of households: coincidence, daily peaks, load duration."""
from __future__ import annotations

import math

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .config import PEAK_QUANTILES
from .per_k import KEvaluation
from .planner import DURATION_SHARES

DURATION_PANELS_PER_ROW = 4  # load-duration panels (one per n) in a row


def coincidence_figure(evaluation: list[KEvaluation]) -> Figure:
    """The coincidence factor against the number of parts for every source (load problems)."""
    figure = Figure(figsize=(6, 4), layout="constrained")
    ax = figure.add_subplot()
    for name in evaluation[0].distances:
        points = [(row.k, row.distances[name].planner.coincidence) for row in evaluation
                  if row.distances[name].planner is not None and row.distances[name].planner.coincidence is not None]
        if points:
            ax.plot(*zip(*points, strict=True), "o-", label=name)
    style_coincidence_axes(ax)
    return figure


def style_coincidence_axes(ax: Axes) -> None:
    """Axes of a coincidence factor against the number of households (log scale), with a legend."""
    ax.set_xscale("log", base=2)
    ax.set_xlabel("households n")
    ax.set_ylabel("coincidence factor g(n)")
    ax.grid(alpha=0.3)
    ax.legend()


def peaks_figure(evaluation: list[KEvaluation], unit: str | None = None) -> Figure:
    """The daily peak's quantiles (P50, P90, P99) per household against n, for every source: one panel per quantile.

    Per household (the feeder's peak over n), so that one scale reads every n; each point is the mean over the
    evaluation's multisets of that n.
    """
    figure = Figure(figsize=(4 * len(PEAK_QUANTILES), 3.6), layout="constrained")
    axes = figure.subplots(1, len(PEAK_QUANTILES), squeeze=False)[0]
    for column, (ax, quantile) in enumerate(zip(axes, PEAK_QUANTILES, strict=True)):
        for name in evaluation[0].distances:
            points = [(row.k, row.distances[name].planner.peak_quantiles[column] / row.k) for row in evaluation
                      if row.distances[name].planner is not None]
            if points:
                ax.plot(*zip(*points, strict=True), "o-", label=name, linewidth=1.0, markersize=3)
        ax.set_xscale("log", base=2)
        ax.set_title(f"daily peak P{100 * quantile:g}", fontsize=10)
        ax.set_xlabel("households n")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("per household" + (f" ({unit})" if unit else ""))
    axes[-1].legend(fontsize=8)
    return figure


def load_duration_figure(evaluation: list[KEvaluation], unit: str | None = None) -> Figure:
    """The load-duration curves per n (the load exceeded for each share of the time), every source in one panel."""
    rows = [row for row in evaluation if any(d.planner is not None for d in row.distances.values())]
    columns = min(DURATION_PANELS_PER_ROW, len(rows))
    figure = Figure(figsize=(3.2 * columns, 2.8 * math.ceil(len(rows) / columns)), layout="constrained")
    axes = figure.subplots(math.ceil(len(rows) / columns), columns, squeeze=False).flatten()
    shares = [100 * share for share in DURATION_SHARES]
    for ax, row in zip(axes, rows, strict=False):
        for name, distances in row.distances.items():
            if distances.planner is not None:
                ax.plot(shares, distances.planner.load_duration, "o-", label=name, linewidth=1.0, markersize=3)
        ax.set_title(f"n = {row.k}", fontsize=10)
        ax.set_xlabel("share of the time (%)")
        ax.set_ylabel("load exceeded" + (f" ({unit})" if unit else ""))
        ax.grid(alpha=0.3)
    for ax in axes[len(rows):]:
        ax.set_axis_off()
    axes[0].legend(fontsize=8)
    return figure
