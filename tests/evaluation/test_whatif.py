"""The what-if evaluation: edits, distances to the true what-if wholes, the baselines, the table."""
from dataclasses import replace

import pytest
import torch

from compvae_geo import CompVAE
from compvae_geo.datasets import HouseholdParts, SineParts
from compvae_geo.evaluation import EvalConfig
from compvae_geo.evaluation.config import DIRECT_EDIT, FROM_SCRATCH, STANDARD_PROFILE, TRUE
from compvae_geo.evaluation.report import baseline_ratios, whatif_markdown
from compvae_geo.evaluation.whatif import EDIT_KINDS, as_json, as_metrics, draw_edit, evaluate_whatif, whatif_cells
from compvae_geo.problems import model_config_for

PROBLEM = SineParts(length=40)
TINY = dict(w_dim=4, z_dim=3, hidden_dim=16, x_feature_dim=8, part_embed_dim=4, num_update_layers=1)


@pytest.mark.parametrize(("kind", "removed", "added"), [
    ("add 1", 0, 1), ("add half", 0, 3), ("remove 1", 1, 0), ("remove half", 3, 0), ("swap half", 3, 3)])
def test_edits_remove_and_add_what_their_kind_says(kind, removed, added):
    generator = torch.Generator().manual_seed(0)
    observation = PROBLEM.observe(torch.tensor([0, 1, 2, 3, 4, 5, 6]), generator=generator)
    edit = draw_edit(kind, PROBLEM, observation, generator)
    assert edit.removed.numel() == removed and edit.add_part.numel() == added
    if kind == "swap half":  # each removed part is replaced by one of another category
        assert (edit.add_part != observation.part[edit.removed]).all()
    with pytest.raises(ValueError, match="unknown edit"):
        draw_edit("double", PROBLEM, observation, generator)
    empty = PROBLEM.observe(torch.empty(0, dtype=torch.long), generator=generator)
    if removed:
        with pytest.raises(ValueError, match=f"cannot {kind} of a whole with no parts"):
            draw_edit(kind, PROBLEM, empty, generator)
    else:
        assert draw_edit(kind, PROBLEM, empty, generator).add_part.numel() == 1


def test_the_truth_scores_like_the_noise_floor_and_a_shifted_truth_does_not():
    def truth(observation, edit, n):
        return PROBLEM.sample_counterfactual(observation, replace(edit, add_part_attr=None), n)

    def independent_truth(observation, edit, n):  # the truth, from draws of its own
        return PROBLEM.sample_counterfactual(observation, replace(edit, add_part_attr=None), n,
                                             torch.Generator().manual_seed(99))

    samplers = {"exact": independent_truth, "shifted": lambda o, e, n: truth(o, e, n) + 1.0,
                "absent": lambda o, e, n: None}
    cells = whatif_cells(PROBLEM, samplers, (2, 6), num_samples=32, observations=2)
    alone = whatif_cells(PROBLEM, {"shifted": samplers["shifted"]}, (2, 6), num_samples=32, observations=2)
    assert [(c.n, c.edit) for c in cells] == [(n, kind) for n in (2, 6) for kind in EDIT_KINDS]
    for cell, cell_alone in zip(cells, alone, strict=True):
        assert set(cell.distances) == {TRUE, "exact", "shifted"}  # a sampler that returns None is left out
        exact, floor, off = cell.distances["exact"], cell.distances[TRUE], cell.distances["shifted"]
        assert off.energy > 1.0 and off.mmd2 > exact.mmd2 and off.energy > max(exact.energy, floor.energy)
        assert cell_alone.distances["shifted"] == off  # a sampler's numbers do not depend on the others compared


@pytest.mark.parametrize("problem", [PROBLEM, HouseholdParts()], ids=["sine", "households"])
def test_evaluate_whatif_compares_recompose_with_the_baselines_the_problem_has(problem):
    torch.manual_seed(0)
    model = CompVAE(model_config_for(problem, **TINY))
    cells = evaluate_whatif({"compvae": model}, problem, EvalConfig(num_samples=8, multisets_per_k=1), (2,))
    households = {DIRECT_EDIT, STANDARD_PROFILE} if isinstance(problem, HouseholdParts) else set()
    expected = {"compvae", FROM_SCRATCH, TRUE} | households
    assert all(set(cell.distances) == expected for cell in cells) and len(cells) == len(EDIT_KINDS)
    document = {"whatif": as_json(cells)}
    ratios = baseline_ratios(document["whatif"][0])
    distances = document["whatif"][0]["distances"]
    best = min(distances[name]["energy"] for name in expected - {"compvae", TRUE})
    assert ratios == {"compvae": pytest.approx(distances["compvae"]["energy"] / best) if best > 0 else float("inf")}
    distances_table, change_text = whatif_markdown(document).split("\n\n", 1)  # the distances, then the changes
    assert distances_table.count("\n") == len(EDIT_KINDS) + 1 and "| 2 | swap half |" in distances_table
    assert "ratio compvae" in distances_table and change_text.count("\n| 2 | ") == len(EDIT_KINDS)
    [(metrics, step)] = as_metrics(cells)
    remove_half = next(cell for cell in cells if cell.edit == "remove half")
    assert step == 2 and metrics["whatif/compvae/remove_half/energy"] == remove_half.distances["compvae"].energy


def test_evaluate_tail_measures_the_sampler_against_rejection_and_the_truth():
    from compvae_geo.evaluation.report import tail_markdown
    from compvae_geo.evaluation.tail import as_json as tail_json
    from compvae_geo.evaluation.tail import evaluate_tail
    from compvae_geo.structural import TailSettings

    torch.manual_seed(0)
    model = CompVAE(model_config_for(PROBLEM, **TINY))
    config = EvalConfig(tail_part_counts=(2,), tail_samples=10, tail_sampler_samples=200)
    cells = evaluate_tail(model, PROBLEM, config, quantiles=(0.9,), settings=TailSettings(population=100, chains=20))
    [cell] = cells
    assert (cell.n, cell.quantile, cell.rejection_cost) == (2, 0.9, pytest.approx(10.0))
    assert cell.samples == {"sampler": 200, "rejection": 10, "true": 10, "naive": 10, "model": 10}
    assert set(cell.energy) == set(cell.mmd2) == {"sampler", "rejection", "model_to_true", "naive_to_true"}
    # every source's tail lies above its own quantile estimate
    for name in ("sampler", "model", "true", "naive"):
        assert cell.statistic_quantiles[name][0] > cell.threshold[name] - 1e-6
    assert cell.sampler_cost > cell.chain_cost > 0 and cell.threshold_error > 0
    from compvae_geo.evaluation.tail import as_metrics as tail_metrics
    [(metrics, step)] = tail_metrics(cells)
    assert step == 2 and metrics["tail/q0.9/energy_sampler"] == cell.energy["sampler"]
    table = tail_markdown(tail_json(cells))
    assert "| 2 | 0.9 |" in table and "x) / 10 |" in table


def test_the_whatif_figure_draws_curves_and_images():
    from compvae_geo.evaluation.figures import WHATIF_SHOWN, WholeLook, whatif_figure

    curves = whatif_figure(torch.zeros(40), torch.randn(7, 40), "a title", WholeLook("curve"),
                           truth=torch.randn(3, 40))
    [ax] = curves.axes
    assert len(ax.lines) == 7 + 3 + 1 and ax.get_title().startswith("a title")
    images = whatif_figure(torch.rand(3, 8, 8), torch.rand(7, 3, 8, 8), "images", WholeLook("image"),
                           truth=torch.rand(2, 3, 8, 8))
    shown = [ax for ax in images.axes if ax.images]
    assert len(images.axes) == 2 * (WHATIF_SHOWN + 1) and len(shown) == 2 + WHATIF_SHOWN + 2


def test_the_ratio_to_the_better_baseline_is_a_tie_where_both_are_at_the_noise_floor():
    def cell(model, scratch, direct):
        return {"distances": {"compvae": {"energy": model}, FROM_SCRATCH: {"energy": scratch},
                              DIRECT_EDIT: {"energy": direct}, TRUE: {"energy": 0.01}}}

    assert baseline_ratios(cell(1.0, 4.0, 2.0)) == {"compvae": 0.5}
    assert baseline_ratios(cell(1.0, 4.0, 0.0)) == {"compvae": float("inf")}
    assert baseline_ratios(cell(0.0, 4.0, -0.1)) == {"compvae": 1.0}
    assert baseline_ratios(cell(-0.2, 0.0, 3.0)) == {"compvae": 1.0}


def test_removing_the_only_household_recomposes_the_empty_feeder_exactly():
    problem = HouseholdParts()
    torch.manual_seed(0)
    model = CompVAE(model_config_for(problem, **TINY, render_channels=2, z_first=True, per_part_decoder=True,
                                     observation_jumps=True)).eval()
    cells = evaluate_whatif({"compvae": model}, problem, EvalConfig(num_samples=8, multisets_per_k=1), (1,))
    for cell in (cell for cell in cells if cell.edit.startswith("remove")):
        assert cell.distances["compvae"].energy == 0 and cell.distances[TRUE].energy == 0


def test_the_change_of_the_whole_s_sum_is_measured_against_the_true_change():
    from compvae_geo.evaluation.report import change_errors

    cell = {"distances": {"compvae": {"energy": 1.0, "sum_change": -90.0},
                          FROM_SCRATCH: {"energy": 2.0, "sum_change": 0.0},
                          TRUE: {"energy": 0.0, "sum_change": -100.0}}}
    assert change_errors(cell) == {"compvae": pytest.approx(0.1), FROM_SCRATCH: pytest.approx(1.0)}
    assert change_errors({"distances": {"compvae": {"energy": 1.0}, TRUE: {"energy": 0.0}}}) == {}  # older files
    problem = HouseholdParts()
    torch.manual_seed(0)
    model = CompVAE(model_config_for(problem, **TINY, render_channels=2, z_first=True, per_part_decoder=True,
                                     observation_jumps=True)).eval()
    cells = evaluate_whatif({"compvae": model}, problem, EvalConfig(num_samples=8, multisets_per_k=2), (1,))
    removal = next(cell for cell in cells if cell.edit == "remove 1")  # one true answer: the feeder's whole load goes
    document = {"whatif": as_json(cells)}
    assert removal.distances[TRUE].sum_change < 0 and removal.distances["compvae"].sum_change == pytest.approx(
        removal.distances[TRUE].sum_change)
    assert change_errors(document["whatif"][EDIT_KINDS.index("remove 1")])["compvae"] == pytest.approx(0, abs=1e-6)
    assert "relative error to the true change" in whatif_markdown(document)
    [(metrics, _)] = as_metrics(cells)
    assert metrics["whatif/compvae/remove_1/sum_change"] == removal.distances["compvae"].sum_change
