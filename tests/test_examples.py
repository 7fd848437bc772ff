"""The example scripts run end to end on tiny configurations."""
import importlib.util
import math
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parent.parent / "examples"


def load_example(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_set_layers_trains_the_three_set_models_and_reports_finite_errors(capsys):
    example = load_example("set_layers")
    errors = example.main(["--steps", "3", "--batch-size", "8", "--hidden", "8", "--held-out", "16"])
    assert set(errors) == {"PartUpdateConv + PartSum", "DeepSetsAggregation", "SetTransformerAggregation"}
    assert all(math.isfinite(error) and error > 0 for error in errors.values())
    assert capsys.readouterr().out.count("held-out MSE") == 4


def test_set_layers_targets_are_the_mean_pairwise_distance():
    import torch

    example = load_example("set_layers")
    points, batch, targets = example.sample_sets(5, 4, torch.Generator().manual_seed(0))
    for b in range(5):
        chunk = points[batch == b]
        pairs = [(chunk[i] - chunk[j]).norm() for i in range(len(chunk)) for j in range(i + 1, len(chunk))]
        assert targets[b] == pytest.approx(float(sum(pairs) / len(pairs)), rel=1e-5)


def test_the_regressor_is_invariant_to_the_order_of_the_points():
    import torch

    example = load_example("set_layers")
    model = example.PartUpdateRegressor(8)
    points, batch, _ = example.sample_sets(3, 6, torch.Generator().manual_seed(1))
    order = torch.cat([torch.nonzero(batch == b).flatten().flip(0) for b in range(3)])
    torch.testing.assert_close(model(points[order], batch, 3), model(points, batch, 3))


def test_set_layers_refuses_a_bad_configuration():
    example = load_example("set_layers")
    with pytest.raises(SystemExit) as refused:
        example.main(["--max-points", "1"])
    assert refused.value.code == 2  # argparse's usage error, not a crash or a success


def test_households_calibration_measures_the_generator_and_writes_its_section(tmp_path, capsys):
    example = load_example("households_calibration")
    doc = tmp_path / "households_problem.md"
    doc.write_text(f"intro\n{example.START}\nstale section\n{example.END}\noutro\n")
    result = example.main(["--days", "60", "--out", str(doc)])
    text = doc.read_text()
    assert text.startswith("intro\n") and text.endswith("outro\n") and "stale section" not in text
    assert (tmp_path / "figures" / "households" / "calibration_coincidence.png").exists()
    assert len(result["archetypes"]) == 7 and all(math.isfinite(r["annual"]) for r in result["archetypes"])
    assert result["coincidence"][1] > result["coincidence"][128]  # peaks of many households do not coincide
    assert 0 < result["g_inf"] < 1


def test_the_coincidence_fit_recovers_g_inf_of_an_exact_curve():
    example = load_example("households_calibration")
    g = {n: 0.2 + 0.8 * n ** -0.75 for n in example.COINCIDENCE_SIZES}
    assert example.fit_coincidence(g) == pytest.approx(0.2)


def test_the_readme_python_blocks_run_as_written(tmp_path, monkeypatch):
    """The quick start of the README is code a user pastes: it runs, and its shapes are the ones it comments."""
    import re

    import torch

    monkeypatch.chdir(tmp_path)  # it saves model.pt where it runs
    blocks = re.findall(r"```python\n(.*?)```", (EXAMPLES.parent / "README.md").read_text(), re.S)
    assert len(blocks) >= 3
    scope: dict = {}
    exec(compile("\n".join(blocks), "README.md", "exec"), scope)
    assert scope["curves"].shape == (8, 200) and scope["cold_weekday"].shape == (100, 96)
    assert scope["what_if"].shape == scope["truth"].shape == (100, 96)
    assert scope["peak_days"].wholes.shape == (1000, 96)
    assert (scope["peak_days"].statistic > scope["peak_days"].threshold).all()
    assert isinstance(scope["peak_days"].wholes, torch.Tensor)


def test_households_through_files_measures_each_size_and_writes_the_document(tmp_path, capsys):
    from helpers import TINY_MODEL_ARGS

    from compvae_geo.cli import main as compvae_geo

    assert compvae_geo(["export", "--problem", "households", "--wholes", "40", "--multisets", "8",
                        "--max-parts", "6", "--out", str(tmp_path / "data40")]) == 0  # every archetype in some feeder
    assert compvae_geo(["train", "--no-log-model", "--data", str(tmp_path / "data40"),
                        "--out-dir", str(tmp_path / "train40"), "--iterations", "4", "--batch-size", "8",
                        "--eval-every", "2", "--patience", "1",
                        "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}", *TINY_MODEL_ARGS]) == 0
    example = load_example("households_through_files")
    tiny = ["--runs", str(tmp_path), "--sizes", "40", "--num-samples", "8", "--multisets", "1",
            "--part-counts", "1,2", "--min-wholes", "2"]
    example.main([*tiny, "--out", str(tmp_path / "other.md")])  # the reference: the docs' full evaluation
    assert "was measured with other settings" in (tmp_path / "other.md").read_text()
    reference = tmp_path / "train40" / "vs-simulator" / "evaluation.json"  # the same settings: comparable
    example.main([*tiny, "--reference", str(reference), "--out", str(tmp_path / "doc.md")])
    document = (tmp_path / "doc.md").read_text()
    mmd2 = document.split("### MMD²")[1].split("###")[0].splitlines()
    assert mmd2[2].startswith("| K | files 40 | cpu preset (stream) | naive | true |")
    first_k = mmd2[4].split(" | ")
    assert first_k[1] == first_k[2]  # the reference is the 40 wholes' evaluation itself
    files = document.split("## On the files")[1]
    assert files.count("| 40 | best.pt |") == 1 and files.count("| 40 | last |") == 1
    assert (tmp_path / "later40" / "wholes.csv").exists()
    assert (tmp_path / "train40" / "files-test" / "evaluation.json").exists()
    with pytest.raises(SystemExit) as refused:
        example.main(["--runs", str(tmp_path), "--sizes", "80"])
    assert refused.value.code == 2 and "no trained checkpoint at" in capsys.readouterr().err  # argparse's usage error
