"""The planner statistics of daily load curves, and the households evaluation end to end on tiny models."""
import pytest
import torch

from compvae_geo import CompVAE
from compvae_geo.evaluation import NAIVE, TRUE, EvalConfig, evaluate
from compvae_geo.evaluation.per_k import as_json, as_metrics
from compvae_geo.evaluation.planner import PEAK_QUANTILES, average, planner_statistics, relative_errors
from compvae_geo.evaluation.planner_figures import coincidence_figure
from compvae_geo.evaluation.probe import z_probe
from compvae_geo.evaluation.profiles import profile_of
from compvae_geo.evaluation.report import headline_markdown, results_markdown
from compvae_geo.models import CountCVAE
from compvae_geo.problems import make_problem, model_config_for

TINY = dict(w_dim=4, z_dim=3, hidden_dim=16, x_feature_dim=8, part_embed_dim=4, num_update_layers=1)


def test_planner_statistics_of_known_curves():
    days = torch.zeros(101, 4)
    days[:, 2] = torch.arange(1.0, 102.0)  # day d peaks at d kW in its third quarter-hour
    stats = planner_statistics(days, hours_per_step=0.25, peaks_alone=200.0)
    assert stats.peak_quantiles == pytest.approx([1 + 100 * q for q in PEAK_QUANTILES])
    assert stats.energy_mean == pytest.approx(51 * 0.25) and stats.peak_hour == pytest.approx(2.5 * 0.25)
    assert stats.load_duration[0] == 101 and stats.load_duration[-1] == 0
    assert stats.coincidence == pytest.approx(51 / 200)
    assert stats.energy_std == pytest.approx(float(torch.arange(1.0, 102.0).std()) * 0.25)
    doubled = planner_statistics(2 * days, 0.25, 400.0)
    errors = relative_errors(doubled, stats)
    assert errors["peak_p50"] == pytest.approx(1.0) and errors["energy_std"] == pytest.approx(1.0)
    assert errors["coincidence"] == pytest.approx(0.0)
    assert average([stats, doubled]).peak_quantiles[0] == pytest.approx(1.5 * 51)


def test_households_evaluation_reports_planner_numbers_conditions_and_the_z_probe():
    problem = make_problem("households")
    torch.manual_seed(0)
    models = {"compvae": CompVAE(model_config_for(problem, **TINY)),
              "count_cvae": CountCVAE(model_config_for(problem, **TINY))}
    config = EvalConfig(part_counts=(1, 3), num_samples=16, multisets_per_k=1, permutations=5)
    evaluation = evaluate(models, problem, config)
    alone, true = evaluation[0].distances[TRUE], evaluation[1].distances[TRUE]
    assert abs(alone.planner.coincidence - 1) < 0.2  # one household coincides with itself (16 days: +-0.1 seen)
    assert true.planner.coincidence < 0.9  # three households' peaks do not all coincide (0.58-0.68 seen)
    assert set(evaluation[1].distances[NAIVE].planner_errors) == {"peak_p50", "peak_p90", "peak_p99", "energy_std",
                                                                 "coincidence"}
    cold = evaluate(models, problem, config, profile_of(problem).named_conditions(problem)["cold weekday (-5 degC)"])
    assert cold[0].distances["compvae"].mmd2 != evaluation[0].distances["compvae"].mmd2
    assert all(isinstance(value, float) for metrics, _ in as_metrics(evaluation) for value in metrics.values())
    probe = z_probe(models["compvae"], problem, num_wholes=40, max_parts=3)
    assert set(probe) == {"mean temperature R2", "broadcast balanced accuracy"}
    coincidence_figure(evaluation)
    document = {"problem": "households", "models": {"compvae": "c.pt"}, "seconds": 1.0,
                "settings": config.to_dict(), "per_k": as_json(evaluation),
                "conditions": {"cold weekday (-5 degC)": as_json(cold)}, "z_probe": {"compvae": probe}}
    markdown = results_markdown(document, [], "e.json", "docs/households_results.md")
    assert "What a grid planner reads" in markdown and "Given the conditions: cold weekday" in markdown
    assert "linear probe" in markdown
    document["models"]["count_cvae"] = "b.pt"
    headline = headline_markdown(document)  # the evaluated model against the naive simulator and the truth
    assert "coincidence-factor error compvae" in headline and "MMD² naive" in headline and "MMD² true" in headline
    assert "count_cvae" not in headline


def test_the_planner_figures_draw_every_source_per_n_in_the_problems_unit():
    from compvae_geo.evaluation.per_k import Distances, KEvaluation
    from compvae_geo.evaluation.planner_figures import load_duration_figure, peaks_figure

    def source(level):
        days = level * (1 + torch.rand(50, 96))
        return Distances(0.0, 1.0, 0.0, planner=planner_statistics(days, 0.25))

    evaluation = [KEvaluation(k, {"model": source(k), "true": source(1.1 * k)}) for k in (1, 2, 4, 8, 16)]
    peaks = peaks_figure(evaluation, "kW")
    assert len(peaks.axes) == len(PEAK_QUANTILES) and peaks.axes[0].get_ylabel() == "per household (kW)"
    for column, ax in enumerate(peaks.axes):  # per household: the feeder's quantile over n, at each n
        line = ax.lines[0]
        assert list(line.get_xdata()) == [1, 2, 4, 8, 16]
        expected = [row.distances["model"].planner.peak_quantiles[column] / row.k for row in evaluation]
        assert line.get_ydata() == pytest.approx(expected)
    duration = load_duration_figure(evaluation, "kW")
    drawn = [ax for ax in duration.axes if ax.lines]
    assert len(drawn) == 5 and all(len(ax.lines) == 2 for ax in drawn)
    assert drawn[2].get_title() == "n = 4" and drawn[2].get_ylabel() == "load exceeded (kW)"
    assert list(drawn[2].lines[1].get_ydata()) == evaluation[2].distances["true"].planner.load_duration


def test_a_households_models_figures_read_in_hours_kw_and_category_names():
    from compvae_geo.evaluation.figures import model_figures

    problem = make_problem("households")
    torch.manual_seed(0)
    figures = model_figures(CompVAE(model_config_for(problem, **TINY)), problem, seed=0)
    names = set(problem.encoding.vocabulary)
    incremental = figures["incremental.png"].axes
    titles = [ax.get_title() for ax in incremental if ax.get_title()]
    assert titles and all(title.removeprefix("+ ") in names for title in titles)
    assert incremental[0].get_ylabel() == "part alone (kW)" and incremental[-1].get_xlabel() == "hour"
    assert incremental[0].lines[0].get_xdata()[-1] == pytest.approx(95 * 0.25)  # quarter-hours as hours
    recomposition = figures["recomposition.png"].axes[0]
    assert recomposition.get_ylabel().split(": ")[1].removesuffix(" (kW)") in names
