"""Measure the households generator against the published facts it is calibrated to.

    python examples/households_calibration.py [--days 3000] [--seed 0] [--out docs/households_problem.md]

Writes the calibration section of ``docs/households_problem.md`` (between its generated-section
markers) and its figure: mean annual energy per archetype against its target, the mean daily
profile per archetype and season, the correlation between two households' daily energy on the same
day (true generator and naive simulator), and the coincidence factor g(n) for n = 1..128 with a fit
of the usual form g_inf + (1 - g_inf) n^(-3/4).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from matplotlib.figure import Figure

from compvae_geo.datasets import ARCHETYPES, HouseholdParts
from compvae_geo.datasets.household_parts import DAYS_PER_YEAR, HOURS_PER_DAY
from compvae_geo.evaluation.planner_figures import style_coincidence_axes

COINCIDENCE_SIZES = (1, 2, 4, 8, 16, 32, 64, 128)
COINCIDENCE_EXPONENT = 0.75
SEASONS = ("winter (Dec-Feb)", "spring/autumn", "summer (Jun-Aug)")
START, END = "<!-- calibration: written by examples/households_calibration.py -->", "<!-- end calibration -->"


def season_of(day_of_year: torch.Tensor) -> list[str]:
    """The season name of each day."""
    names = []
    for day in day_of_year.tolist():
        if day >= 335 or day < 60:
            names.append("winter (Dec-Feb)")
        elif 152 <= day < 244:
            names.append("summer (Jun-Aug)")
        else:
            names.append("spring/autumn")
    return names


def household_days(problem: HouseholdParts, archetype: int, days: int, generator: torch.Generator,
                   shared: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``days`` household-days of one archetype (each its own day unless ``shared`` is given): loads and days."""
    part = torch.full((days,), archetype)
    attr = problem.sample_part_attr(part, generator)
    intrinsics = problem.sample_intrinsics(days, generator, torch.device("cpu"))
    shared = problem.sample_shared(days, generator, torch.device("cpu")) if shared is None else shared
    return problem.household_loads(part, attr, intrinsics, shared), shared


def annual_energy(problem: HouseholdParts, days: int, generator: torch.Generator) -> list[dict]:
    """Mean annual kWh per archetype, its parts, against the target, and the mean daily profiles by season."""
    hours_per_step = HOURS_PER_DAY / problem.steps
    rows = []
    for k, archetype in enumerate(ARCHETYPES):
        loads, shared = household_days(problem, k, days, generator)
        daily = loads.sum(-1) * hours_per_step
        seasons = season_of(shared[:, 0])
        profiles = {name: loads[[s == name for s in seasons]].mean(0) for name in SEASONS}
        annual = float(daily.mean()) * DAYS_PER_YEAR
        rows.append({"name": archetype.name, "target": archetype.annual_kwh, "annual": annual,
                     "daily_cv": float(daily.std() / daily.mean()), "peak": float(loads.max(-1).values.mean()),
                     "profiles": profiles})
    return rows


def component_yields(problem: HouseholdParts, days: int, generator: torch.Generator) -> dict[str, float]:
    """Annual heat-pump and EV consumption per household and PV yield per kWp (the same days with and without)."""
    hours_per_step = HOURS_PER_DAY / problem.steps
    out = {}
    names = [a.name for a in ARCHETYPES]
    for name, reference in (("family_heat_pump", "family"), ("couple_ev", "working_couple")):
        k, r = names.index(name), names.index(reference)
        shared = problem.sample_shared(days, generator, torch.device("cpu"))
        state = generator.get_state()
        with_it, _ = household_days(problem, k, days, generator, shared)
        generator.set_state(state)
        without, _ = household_days(problem, r, days, generator, shared)
        out[name] = float((with_it - without).sum(-1).mean()) * hours_per_step * DAYS_PER_YEAR
    shared = problem.sample_shared(days, generator, torch.device("cpu"))
    pv = problem.pv_performance_ratio * problem.irradiance(shared).sum(-1).mean() * hours_per_step * DAYS_PER_YEAR
    out["pv_kwh_per_kwp"] = float(pv)
    return out


def random_feeders(problem: HouseholdParts, n: int, days: int, generator: torch.Generator,
                   naive: bool = False) -> torch.Tensor:
    """The household loads ``[days, n, steps]`` of ``days`` feeders of ``n`` households of random archetypes.

    With ``naive``, every household has its own day; else the households of a feeder share theirs.
    """
    part = torch.randint(0, problem.num_categories, (days * n,), generator=generator)
    attr = problem.sample_part_attr(part, generator)
    intrinsics = problem.sample_intrinsics(days * n, generator, torch.device("cpu"))
    shared = problem.sample_shared(days * (n if naive else 1), generator, torch.device("cpu"))
    per_part = shared if naive else shared.repeat_interleave(n, 0)
    return problem.household_loads(part, attr, intrinsics, per_part).reshape(days, n, problem.steps)


def coincidence(problem: HouseholdParts, days: int, generator: torch.Generator) -> dict[int, float]:
    """g(n) = E[daily peak of the feeder of n] / (n E[daily peak of one household]), feeder losses included."""
    single_peak = float(random_feeders(problem, 1, days, generator)[:, 0].max(-1).values.mean())
    out = {}
    for n in COINCIDENCE_SIZES:
        demand = random_feeders(problem, n, max(days // n, 50), generator).sum(1)
        feeder = problem.feeder(demand, torch.full((demand.size(0),), float(n)))
        out[n] = float(feeder.max(-1).values.mean()) / (n * single_peak)
    return out


def fit_coincidence(g: dict[int, float]) -> float:
    """Least-squares g_inf of g(n) = g_inf + (1 - g_inf) n^(-3/4)."""
    n = torch.tensor(list(g), dtype=torch.float64)
    basis = 1 - n.pow(-COINCIDENCE_EXPONENT)  # g - n^(-3/4) = g_inf (1 - n^(-3/4))
    target = torch.tensor(list(g.values()), dtype=torch.float64) - n.pow(-COINCIDENCE_EXPONENT)
    return float((basis * target).sum() / basis.pow(2).sum())


def energy_correlation(problem: HouseholdParts, days: int, generator: torch.Generator, naive: bool) -> float:
    """Correlation between the daily energy of two random households on the same feeder and day."""
    loads = random_feeders(problem, 2, days, generator, naive=naive).sum(-1)
    return float(torch.corrcoef(loads.T)[0, 1])


def profiles_figure(rows: list[dict], hours: torch.Tensor) -> Figure:
    """Mean daily profile of each archetype, one panel each, a line per season."""
    figure = Figure(figsize=(12, 6), layout="constrained")
    axes = figure.subplots(2, 4).flatten()
    for ax, row in zip(axes, rows):
        for season, profile in row["profiles"].items():
            ax.plot(hours.numpy(), profile.numpy(), label=season)
        ax.set_title(row["name"], fontsize=9)
        ax.set_xticks([0, 6, 12, 18, 24])
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("mean load (kW)")
    axes[4].set_ylabel("mean load (kW)")
    axes[len(rows) - 1].legend(fontsize=7)
    axes[-1].set_axis_off()
    return figure


def coincidence_figure(g: dict[int, float], g_inf: float) -> Figure:
    """g(n) against n with the fitted usual form."""
    figure = Figure(figsize=(6, 4), layout="constrained")
    ax = figure.add_subplot()
    n = torch.tensor(list(g), dtype=torch.float64)
    ax.plot(n.numpy(), list(g.values()), "o", label="generator")
    dense = torch.logspace(0, 7, 100, base=2, dtype=torch.float64)
    ax.plot(dense.numpy(), (g_inf + (1 - g_inf) * dense.pow(-COINCIDENCE_EXPONENT)).numpy(),
            label=f"g_inf + (1 - g_inf) n^(-3/4), g_inf = {g_inf:.3f}")
    style_coincidence_axes(ax)
    return figure


def calibration_markdown(rows: list[dict], yields: dict[str, float], g: dict[int, float], g_inf: float,
                         correlations: dict[str, float], days: int, seconds: float, command: str) -> str:
    """The generated section of the document."""
    lines = [START, "", f"Measured by `{command}` ({days} household-days per archetype; {seconds:.0f} s).", "",
             "| archetype | target appliances (kWh/yr) | simulated, all uses (kWh/yr) | day-to-day CV of energy "
             "| mean daily peak (kW) |", "|---|---|---|---|---|"]
    lines += [f"| {r['name']} | {r['target']:.0f} | {r['annual']:.0f} | {r['daily_cv']:.2f} | {r['peak']:.2f} |"
              for r in rows]
    lines += ["", f"Heat pump: {yields['family_heat_pump']:.0f} kWh/yr per household on top of the appliances; "
              f"EV: {yields['couple_ev']:.0f} kWh/yr; PV: {yields['pv_kwh_per_kwp']:.0f} kWh per kWp and year "
              "(the PV archetype's total is net of it).", "",
              "Correlation of two households' daily energy on the same feeder and day: "
              f"{correlations['true']:.2f} (the generator: a shared day), {correlations['naive']:.2f} "
              "(the naive simulator: a day each).", "",
              "| n | " + " | ".join(str(n) for n in g) + " |", "|---|" + "---|" * len(g),
              "| g(n) | " + " | ".join(f"{v:.3f}" for v in g.values()) + " |",
              "| fit | " + " | ".join(f"{g_inf + (1 - g_inf) * n ** -COINCIDENCE_EXPONENT:.3f}" for n in g) + " |",
              "", f"Fitted g_inf = {g_inf:.3f}.", "",
              "![mean daily profiles](figures/households/calibration_profiles.png)",
              "![coincidence factor](figures/households/calibration_coincidence.png)", "", END]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    """Measures the generator, writes the document's generated section and figures; returns the numbers."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=3000, help="household-days per archetype and measurement")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("docs/households_problem.md"))
    args = parser.parse_args(argv)
    if args.days < 2:
        parser.error("--days must be >= 2")
    started = time.monotonic()
    problem = HouseholdParts()
    generator = torch.Generator().manual_seed(args.seed)
    rows = annual_energy(problem, args.days, generator)
    yields = component_yields(problem, args.days, generator)
    correlations = {name: energy_correlation(problem, args.days, generator, naive=(name == "naive"))
                    for name in ("true", "naive")}
    g = coincidence(problem, args.days, generator)
    g_inf = fit_coincidence(g)
    figures = args.out.parent / "figures" / "households"
    figures.mkdir(parents=True, exist_ok=True)
    profiles_figure(rows, problem.hours()).savefig(figures / "calibration_profiles.png", dpi=110)
    coincidence_figure(g, g_inf).savefig(figures / "calibration_coincidence.png", dpi=110)
    command = "python examples/households_calibration.py " + " ".join(sys.argv[1:] if argv is None else argv)
    section = calibration_markdown(rows, yields, g, g_inf, correlations, args.days, time.monotonic() - started,
                                   command.strip())
    text = args.out.read_text() if args.out.exists() else f"{START}\n{END}\n"
    if START not in text or END not in text:
        raise SystemExit(f"{args.out} has no '{START}' ... '{END}' section to write")
    before, rest = text.split(START)
    args.out.write_text(before + section + rest.split(END, 1)[1])
    print(section)
    return {"archetypes": rows, "yields": yields, "correlations": correlations, "coincidence": g, "g_inf": g_inf}


if __name__ == "__main__":
    main()
