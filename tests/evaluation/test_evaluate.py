"""The evaluation: distances per K against the true generator, held-out loss terms, the results document."""
import pytest
import torch

from compvae_geo import CompVAE, CompVAEConfig
from compvae_geo.datasets import SineParts
from compvae_geo.evaluation import NAIVE, TRUE, EvalConfig, evaluate, heldout_elbo_bits, sample_distances
from compvae_geo.evaluation.per_k import KEvaluation, as_json, as_metrics, naive_sampler
from compvae_geo.evaluation.report import (
    headline_markdown,
    headline_markers,
    per_k_tables,
    results_markdown,
    update_headline,
)
from compvae_geo.problems import PROBLEM_NAMES, make_problem, model_config_for, problem_of_model

PROBLEM = SineParts(length=40)
CONFIG = CompVAEConfig(obs_shape=PROBLEM.obs_shape, w_dim=4, z_dim=3, hidden_dim=16, x_feature_dim=8,
                       part_embed_dim=5, num_update_layers=1)
SMALL = dict(num_samples=64, multisets_per_k=2, num_permutations=40)


def true_sampler(seed: int):
    generator = torch.Generator().manual_seed(seed)
    return lambda part, part_attr, whole_attr, n: PROBLEM.sample_wholes(part, n, part_attr, generator=generator)


def test_a_true_sampler_scores_like_the_noise_floor_and_a_shifted_one_does_not():
    shifted = true_sampler(1)
    samplers = {"exact": true_sampler(2), "shifted": lambda part, attr, c, n: shifted(part, attr, c, n) + 2.0,
                NAIVE: naive_sampler(PROBLEM, torch.Generator().manual_seed(3))}
    result = sample_distances(PROBLEM, samplers, (1, 4), **SMALL)
    for k in (1, 4):
        floor, exact, off = result[k][TRUE], result[k]["exact"], result[k]["shifted"]
        assert abs(exact.mmd2) < 0.02 and abs(floor.mmd2) < 0.02 and exact.mmd2_pvalue > 0.05
        assert off.mmd2 > 0.05 and off.mmd2_pvalue <= 1 / 41 + 1e-12
        assert off.energy > 10 * max(abs(exact.energy), abs(floor.energy))
        assert off.spectrum > exact.spectrum
    # the naive simulator is exact for one part (the paper's non-linearity applies per part)
    assert abs(result[1][NAIVE].mmd2) < 0.02 and result[1][NAIVE].mmd2_pvalue > 0.05


def test_a_samplers_numbers_do_not_depend_on_which_other_samplers_are_compared():
    def noisy(part, part_attr, whole_attr, n):  # draws from the global RNG, like a model's latents
        return PROBLEM.sample_wholes(part, n, part_attr) + 0.1 * torch.randn(n, *PROBLEM.obs_shape)

    alone = sample_distances(PROBLEM, {"noisy": noisy}, (1, 3), **SMALL)
    together = sample_distances(PROBLEM, {"other": lambda part, attr, c, n: noisy(part, attr, c, 2 * n)[:n] + 1.0,
                                          "noisy": noisy}, (1, 3), **SMALL)
    for k in (1, 3):
        assert together[k]["noisy"] == alone[k]["noisy"] and together[k][TRUE] == alone[k][TRUE]
    assert together[1]["other"] != together[1]["noisy"]


def test_heldout_elbo_bits_equals_the_loss_in_bits_and_leaves_the_global_rng_alone():
    torch.manual_seed(0)
    model = CompVAE(CONFIG)
    state = torch.get_rng_state()
    first = heldout_elbo_bits(model, PROBLEM, (1, 3), num_wholes=8, seed=5)
    assert torch.equal(torch.get_rng_state(), state)
    assert heldout_elbo_bits(model, PROBLEM, (1, 3), num_wholes=8, seed=5) == first
    generator = torch.Generator().manual_seed(5)
    torch.manual_seed(5)
    model.eval()
    terms = model.loss(PROBLEM.sample_batch(8, 1, min_parts=1, generator=generator))
    bits = 1 / torch.log(torch.tensor(2.0))
    torch.testing.assert_close(torch.tensor(first[1].z), terms.z.mean() * bits)
    torch.testing.assert_close(torch.tensor(first[1].elbo), terms.elbo.mean() * bits)


def test_evaluate_reports_every_source_and_renders_the_same_numbers():
    torch.manual_seed(0)
    models = {"compvae": CompVAE(CONFIG), "compvae_no_z": CompVAE(CompVAEConfig(**{**CONFIG.to_dict(), "z_dim": 0}))}
    config = EvalConfig(part_counts=(1, 2), num_samples=64, multisets_per_k=2, permutations=40, seed=3)
    evaluation = evaluate(models, PROBLEM, config)
    assert [row.k for row in evaluation] == [1, 2]
    assert set(evaluation[0].distances) == {TRUE, "compvae", "compvae_no_z", NAIVE}
    assert evaluation[1].elbo_bits["compvae_no_z"].z == 0.0
    tables = per_k_tables(as_json(evaluation))  # what the terminal prints and the results document writes
    assert list(tables) == ["mmd2", "energy", "spectrum", "elbo"] and "L_w / L_z / L_x" in tables["elbo"][0]
    for _, table in tables.values():  # one table, two renderings of the same cells
        text, markdown = table.text().splitlines(), table.markdown()
        assert len(text) == len(markdown) - 1 and "compvae_no_z" in text[0]
        for line, row in zip(text[1:], table.rows):
            assert line.split()[:1] == [row[0]] and all(cell in line for cell in row)
            assert f"| {' | '.join(row)} |" in markdown
    metrics = dict((step, m) for m, step in as_metrics(evaluation))
    assert metrics[2]["eval/compvae/mmd2"] == evaluation[1].distances["compvae"].mmd2
    document = {"problem": "sine", "command": "compvae-geo evaluate --checkpoint c.pt", "models": {"compvae": "c.pt"},
                "seconds": 1.0, "settings": {"multisets_per_k": 2, "num_samples": 64, "permutations": 40},
                "per_k": as_json(evaluation)}
    markdown = results_markdown(document, ["figures/sine/size_generality.png"], "e.json", "docs/sine_results.md")
    row = next(line for line in markdown.splitlines() if line.startswith("| 2 |"))
    assert f"{evaluation[1].distances['compvae'].mmd2:.4f}" in row
    assert "compvae-geo evaluate --checkpoint c.pt" in markdown and "![figures/sine/size_generality.png]" in markdown
    assert "compvae-geo report --evaluation e.json --out docs/sine_results.md" in markdown


def test_the_problem_of_a_bare_model_file_is_read_from_its_config():
    for name in PROBLEM_NAMES:
        assert problem_of_model(model_config_for(make_problem(name), w_dim=3).to_dict()) == name
    unknown = {**model_config_for(make_problem("sine")).to_dict(), "num_categories": 3}
    with pytest.raises(ValueError, match="cannot tell which problem"):
        problem_of_model(unknown)


def test_report_rewrites_only_its_problems_headline_in_the_readme(tmp_path):
    torch.manual_seed(0)
    config = EvalConfig(part_counts=(1, 2), num_samples=16, multisets_per_k=1, permutations=5)
    evaluation = evaluate({"compvae": CompVAE(CONFIG)}, PROBLEM, config)
    document = {"problem": "sine", "per_k": as_json(evaluation)}
    readme = tmp_path / "README.md"
    start, end = headline_markers("sine")
    other_start, other_end = headline_markers("sites")
    readme.write_text(f"intro\n{start}\nold table\n{end}\nmiddle\n{other_start}\nsites table\n{other_end}\nend\n")
    update_headline(readme, document)
    text = readme.read_text()
    assert "old table" not in text and "sites table" in text and text.startswith("intro\n")
    assert headline_markdown(document) in text
    assert f"| MMD² compvae | {evaluation[0].distances['compvae'].mmd2:.4f} |" in text
    readme.write_text("no markers\n")
    with pytest.raises(ValueError, match="needs one"):
        update_headline(readme, document)


def test_the_spread_of_a_distance_is_its_standard_error_over_the_multisets():
    from compvae_geo.evaluation.per_k import _average

    rows = [(0.010, 0.5, 1.0, 0.1, 0.9), (0.014, 0.4, 3.0, 0.1, 0.9), (0.030, 0.3, 2.0, 0.1, 0.9)]
    averaged = _average(rows, [])
    mmd2, energy = torch.tensor([0.010, 0.014, 0.030]), torch.tensor([1.0, 3.0, 2.0])
    assert averaged.mmd2 == pytest.approx(float(mmd2.mean()))
    assert averaged.mmd2_se == pytest.approx(float(mmd2.std() / 3 ** 0.5))
    assert averaged.energy_se == pytest.approx(float(energy.std() / 3 ** 0.5))
    assert _average(rows[:1], []).mmd2_se is None  # one multiset: no spread to tell
    shown = per_k_tables(as_json([KEvaluation(4, {TRUE: averaged, "model": averaged})]))
    assert "0.0180 ± 0.0061 (0.400)" in shown["mmd2"][1].markdown()[2] and "±" in shown["mmd2"][0]
