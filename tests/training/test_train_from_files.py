"""Training from files: the same trainer, splits that do not leak, a model that reads labels and the file's units."""
import json
import math

import pytest
import torch
from helpers import RESUME, TINY_MODEL, TINY_MODEL_ARGS
from mlflow.tracking import MlflowClient

from compvae_geo.cli import main
from compvae_geo.datasets import HouseholdParts, WholesDataset
from compvae_geo.datasets.dataset_source import DatasetSource, split_dataset, split_keys
from compvae_geo.datasets.export import export_new_days, export_problem
from compvae_geo.models import load_model
from compvae_geo.training import RunSpec, TrainConfig
from compvae_geo.training.launch import training_command

TRAIN = ["--no-log-model", "--iterations", "6", "--batch-size", "8", "--log-every", "2", "--eval-every", "4",
         "--eval-wholes", "16", *TINY_MODEL_ARGS]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Households as files: 20 feeders of up to 4 households, 6 days each."""
    return export_problem(HouseholdParts(), 120, 20, 4, tmp_path_factory.mktemp("households"), seed=0)


def test_a_split_by_multiset_holds_no_multiset_in_two_splits(files):
    dataset = WholesDataset(files)
    splits = split_dataset(dataset, 0.2, 0.2, "multiset", seed=3)
    assert sorted(torch.cat(list(splits.values())).tolist()) == list(range(len(dataset)))
    keys = split_keys(dataset, "multiset")
    held = {name: {keys[b] for b in index.tolist()} for name, index in splits.items()}
    assert len({key for names in held.values() for key in names}) == 20  # the 20 feeders, each in one split
    assert not (held["train"] & held["val"]) and not (held["train"] & held["test"]) and not (held["val"] & held["test"])
    assert [len(held[name]) for name in ("train", "val", "test")] == [12, 4, 4]
    by_group = split_dataset(dataset, 0.2, 0.2, "multiset_id", seed=3)  # the export's group column: the feeder
    groups = {name: {dataset.groups[b] for b in index.tolist()} for name, index in by_group.items()}
    assert sum(map(len, groups.values())) == 20 and not (groups["train"] & (groups["val"] | groups["test"]))
    with pytest.raises(ValueError, match="cannot be split"):
        split_dataset(dataset, 0.01, 0.0, "multiset", seed=0)


def test_epochs_visit_every_training_whole_once_each(files):
    dataset = WholesDataset(files)
    source = DatasetSource(dataset, torch.arange(0, 40))
    generator = torch.Generator().manual_seed(0)
    seen = torch.cat([source.sample_batch(8, generator=generator).whole for _ in range(5)])
    assert source.epoch == 1 and torch.equal(seen.unique(dim=0), dataset.batch(torch.arange(40)).whole.unique(dim=0))


def test_train_from_files_resume_and_generate_from_labels_in_the_files_units(files, tmp_path, capsys):
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    out = tmp_path / "run"
    assert main(["train", "--data", str(files), "--out-dir", str(out), "--tracking-uri", store, *TRAIN]) == 0
    assert main([*RESUME, str(out / "checkpoint.pt"), "--iterations", "8", "--tracking-uri", store]) == 0
    payload = torch.load(out / "checkpoint.pt", weights_only=True)
    assert payload["training"]["step"] == 8 and payload["encoding"]["unit"] == "kW"
    command = training_command(payload)  # read against the generic preset that a run of files starts from
    assert command.startswith(f"compvae-geo train --preset cpu --data {files}") and "--problem" not in command
    client = MlflowClient(tracking_uri=store)
    (run,) = client.search_runs([client.get_experiment_by_name(files.name).experiment_id])
    assert [m.step for m in client.get_metric_history(run.info.run_id, "heldout_elbo_bits/val")] == [4, 6, 8]
    (dataset_input,) = run.inputs.dataset_inputs
    logged = dataset_input.dataset
    assert logged.name == f"{files.name} files" and "train wholes" in logged.source
    assert logged.digest == WholesDataset(files).digest and json.loads(logged.profile)["wholes"] == 120
    schema = json.loads(logged.schema)["mlflow_colspec"]
    assert [column["name"] for column in schema[:3]] == ["whole_id", "day_type", "mean_temperature"]
    assert len(schema) == 1 + 2 + 1 + 96  # the id, the conditions, the group, the values
    model = load_model(out / "checkpoint.pt").eval()
    labels, kwh = ["single", "family", "family"], torch.tensor([[1.3, 0.0], [4.2, 0.0], [4.0, 0.0]])
    torch.manual_seed(0)
    in_kw = model.generate(labels, 4, kwh, whole_attr={"day_type": "sunday", "mean_temperature": 15.0})
    encoding, model.encoding = model.encoding, None  # the same model, fed what it reads inside
    torch.manual_seed(0)
    inside = model.generate(encoding.part_ids(labels), 4, encoding.encode_descriptors(kwh),
                            whole_attr=encoding.encode_conditions({"day_type": ["sunday"],
                                                                   "mean_temperature": [15.0]}, 1)[0])
    torch.testing.assert_close(in_kw, inside * encoding.value_scale)
    assert main(["generate", "--checkpoint", str(out / "checkpoint.pt"), "--parts", "single,family",
                 "--part-attr", "1.3,0;4.2,0", "--out", str(tmp_path / "kw.csv")]) == 0


def test_a_run_of_files_takes_its_data_fields_from_them_and_refuses_a_model_that_does_not_fit(files, tmp_path):
    spec = RunSpec.build(TrainConfig(data=str(files), device="cpu", split_by="whole"), tmp_path / "c.pt", TINY_MODEL)
    assert (spec.model.num_categories, spec.model.part_attr_dim, spec.model.whole_attr_dim) == (
        len(spec.encoding.vocabulary), 2, 4)
    assert spec.model.obs_shape == (96,) and sum(spec.split_sizes.values()) == 120
    with pytest.raises(ValueError, match="do not fit the .* data"):
        RunSpec.build(TrainConfig(data=str(files)), tmp_path / "c.pt", model=spec.model.__class__())


def test_evaluate_on_the_files_reports_the_elbo_gap_and_each_multiset_against_the_observed_wholes(files, tmp_path,
                                                                                                   capsys):
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    out = tmp_path / "run"
    assert main(["train", "--data", str(files), "--split-by", "whole", "--out-dir", str(out), "--tracking-uri", store,
                 *TRAIN]) == 0
    assert main(["evaluate", "--checkpoint", str(out / "checkpoint.pt"), "--data", str(files), "--min-wholes", "2",
                 "--baseline", f"again={out / 'checkpoint.pt'}", "--tracking-uri", store]) == 0
    document = json.loads((out / "evaluation-test" / "evaluation.json").read_text())
    client = MlflowClient(tracking_uri=store)  # its own run under the training run, linked to the files' test split
    (training,) = client.search_runs([e.experiment_id for e in client.search_experiments()],
                                     "tags.mlflow.runName != 'evaluation'")
    (evaluation,) = client.search_runs([training.info.experiment_id],
                                       f"tags.mlflow.parentRunId = '{training.info.run_id}'")
    assert evaluation.info.status == "FINISHED" and evaluation.data.params["split"] == "test"
    expected = document["elbo_bits"]["compvae"]["test"]
    assert evaluation.data.metrics["data/compvae/elbo_bits_test"] == pytest.approx(expected)
    (measured_on,) = evaluation.inputs.dataset_inputs
    assert measured_on.dataset.name == f"{files.name} files (test split)" and measured_on.dataset.digest
    assert document["split"] == "test" and set(document["elbo_bits"]) == {"compvae", "again"}
    assert document["elbo_bits"]["compvae"] == document["elbo_bits"]["again"]  # the same model, the same noise
    assert all(math.isfinite(value) for values in document["elbo_bits"].values() for value in values.values())
    cells = document["multisets"]
    assert cells and all(cell["observed"] >= 2 for cell in cells)
    assert all(set(cell["mmd2"]) == {"compvae", "again", "empirical"} for cell in cells)  # split by whole: seen feeders
    assert all(set(cell["planner_errors"]["compvae"]) >= {"peak_p99", "energy_std"} for cell in cells)  # kW curves
    assert "held-out ELBO" in capsys.readouterr().out
    results = tmp_path / "docs" / "files.md"
    assert main(["report", "--evaluation", str(out / "evaluation-test" / "evaluation.json"), "--out",
                 str(results)]) == 0
    text = results.read_text()
    assert "the test split against its observed wholes" in text and "| compvae |" in text and "| again |" in text
    assert text.count("\n| " + cells[0]["key"][:8]) == 2  # its MMD² and its planner's errors



def test_epochs_set_the_steps_and_patience_stops_early_keeping_the_best_weights(files, tmp_path, capsys,
                                                                                  monkeypatch):
    from compvae_geo.training import Trainer

    scores = iter([10.0, 9.0, 9.5, 9.7, 9.8, 9.9])  # the held-out ELBO: best at the 2nd evaluation, then worse
    monkeypatch.setattr(Trainer, "heldout_elbo_bits", lambda self: {"heldout_elbo_bits/val": next(scores)})
    out = tmp_path / "run"
    assert main(["train", "--data", str(files), "--split-by", "whole", "--epochs", "2", "--batch-size", "8",
                 "--log-every", "1", "--eval-every", "1", "--patience", "2", "--out-dir", str(out),
                 "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}", *TINY_MODEL_ARGS]) == 0
    state = torch.load(out / "checkpoint.pt", weights_only=True)["training"]
    assert state["config"]["iterations"] == 24  # 2 epochs of the 96 training wholes, 8 a step
    assert state["step"] == 4 and tuple(state["best"]) == (2, 9.0) and state["evaluations_since_best"] == 2
    best, last = load_model(out / "best.pt"), load_model(out / "checkpoint.pt")
    assert best.encoding is not None
    assert any(not torch.equal(a, b) for a, b in zip(best.state_dict().values(), last.state_dict().values()))
    assert "stopped early" in capsys.readouterr().out


def test_a_model_of_exported_files_is_evaluated_against_the_simulator_that_wrote_them(files, tmp_path, capsys):
    out = tmp_path / "run"
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert main(["train", "--data", str(files), "--out-dir", str(out), "--tracking-uri", store, *TRAIN]) == 0
    evaluate = ["evaluate", "--checkpoint", str(out / "checkpoint.pt"), "--no-mlflow"]
    capsys.readouterr()
    assert main(evaluate) == 2
    assert "learnt from files" in capsys.readouterr().err
    assert main([*evaluate, "--problem", "households", "--part-counts", "1,3", "--num-samples", "16",
                 "--multisets", "1", "--permutations", "5"]) == 0
    document = json.loads((out / "evaluation" / "evaluation.json").read_text())
    assert [row["k"] for row in document["per_k"]] == [1, 3]
    for row in document["per_k"]:
        assert set(row["distances"]) == {"compvae", "naive", "true"}
        assert all(map(math.isfinite, row["distances"]["compvae"]["planner"]["peak_quantiles"]))
        assert all(math.isfinite(value) for value in row["elbo_bits"]["compvae"].values())
    later = export_new_days(HouseholdParts(), files, tmp_path / "later", seed=5)  # the seen feeders on new days
    assert main(["evaluate", "--checkpoint", str(out / "checkpoint.pt"), "--data", str(later), "--split", "train",
                 "--min-wholes", "2", "--no-mlflow"]) == 0
    document = json.loads((out / "evaluation-train" / "evaluation.json").read_text())
    trained_on = split_dataset(WholesDataset(files), 0.1, 0.1, "multiset", 0)  # the training's defaults
    assert document["split_sizes"] == {name: index.numel() for name, index in trained_on.items()}
    assert document["multisets"] and all(set(cell["mmd2"]) == {"compvae"} for cell in document["multisets"])


def test_a_per_part_model_refuses_files_with_a_whole_of_no_parts_before_training(files, tmp_path):
    import shutil

    copy = tmp_path / "with_an_empty_feeder"
    shutil.copytree(files, copy)
    parts = (copy / "parts.csv").read_text().splitlines()
    first = parts[1].split(",")[0]  # the first whole: its households go, the whole stays
    (copy / "parts.csv").write_text("\n".join(line for line in parts if line.split(",")[0] != first) + "\n")
    config = TrainConfig(data=str(copy), device="cpu", split_by="whole")
    per_part = {**TINY_MODEL, "render_channels": 2, "z_first": True, "per_part_decoder": True}
    with pytest.raises(ValueError, match="1 of the 120 wholes of .* have no parts: a model whose whole is the sum"):
        RunSpec.build(config, tmp_path / "c.pt", per_part)
    assert RunSpec.build(config, tmp_path / "c.pt", TINY_MODEL).model.per_part_decoder is False  # others learn K = 0
