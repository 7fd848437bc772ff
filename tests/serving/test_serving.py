"""The trained model as an MLflow Model: a parts table in, a long table of wholes out; logged, registered, served."""
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import mlflow
import pandas as pd
import pytest
import torch
from helpers import TINY_MODEL_ARGS

from compvae_geo.checkpoint import read_model_payload
from compvae_geo.cli import main
from compvae_geo.datasets import HouseholdParts
from compvae_geo.serving import CompVAEPyfunc, read_requests

STEPS = 96  # quarter-hours of a households whole


def parts_table(**columns):
    table = {"whole_id": ["a", "a", "b"], "category": ["single", "family", None], "annual_mwh": [1.5, 4.2, None],
             "pv_kwp": [0.0, 3.0, None], "day_type": ["sunday"] * 3, "mean_temperature": [-4.0] * 3}
    return pd.DataFrame({**table, **columns})


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny households run, its model logged and registered as 'feeders' at the end of training."""
    root = tmp_path_factory.mktemp("serving")
    store = f"sqlite:///{root / 'mlflow.db'}"
    assert main(["train", "--problem", "households", "--out-dir", str(root / "run"), "--tracking-uri", store,
                 "--iterations", "4", "--batch-size", "8", "--eval-every", "4", "--eval-wholes", "4",
                 "--eval-part-counts", "1", "--register-model", "feeders", *TINY_MODEL_ARGS]) == 0
    return root, store


@pytest.fixture(scope="module")
def pyfunc(run):
    model = CompVAEPyfunc()
    model.use_payload(read_model_payload(run[0] / "run" / "checkpoint.pt"))
    return model


def test_a_table_of_parts_is_read_as_its_wholes_in_order_with_empty_multisets_and_unknown_conditions():
    terms = HouseholdParts().encoding
    first, empty = read_requests(parts_table(), terms)
    assert (first.whole_id, empty.whole_id) == ("a", "b")
    assert first.parts.tolist() == [0, 3] and empty.parts.numel() == 0 and empty.part_attr.shape == (0, 2)
    torch.testing.assert_close(first.part_attr, torch.tensor([[1.5, 0.0], [4.2, 3.0]]))
    torch.testing.assert_close(first.whole_attr, HouseholdParts().conditions("sunday", -4.0))
    (unknown,) = read_requests(parts_table(mean_temperature=[None] * 3).iloc[:2], terms)
    assert unknown.whole_attr is None  # a condition left empty: the model draws the day
    (no_conditions,) = read_requests(parts_table().drop(columns=["day_type", "mean_temperature"]).iloc[:2], terms)
    assert no_conditions.whole_attr is None


@pytest.mark.parametrize(("table", "message"), [
    (parts_table().drop(columns=["pv_kwp"]), r"no column\(s\) \['pv_kwp'\]"),
    (parts_table(temperature=[1.0] * 3), r"unknown column\(s\) \['temperature'\]"),
    (parts_table(category=["single", "retired", None]), "unknown part category 'retired'"),
    (parts_table(annual_mwh=[1.5, "lots", None]), "column 'annual_mwh' has no finite number in row 1"),
    (parts_table(day_type=["sunday", "weekday", "sunday"]), "whole 'a' has different 'day_type' values"),
    (parts_table(day_type=["holiday"] * 3), "condition 'day_type' has no value 'holiday'"),
    (parts_table().iloc[:0], "the parts table is empty"),
    (parts_table(whole_id=["a", None, "b"]), "row 1 has no whole_id"),
], ids=["missing descriptor", "unknown column", "unknown category", "non-numeric descriptor",
        "two conditions in one whole", "unknown condition value", "empty", "no whole_id"])
def test_bad_tables_are_refused_naming_the_column(table, message):
    with pytest.raises(ValueError, match=message):
        read_requests(table, HouseholdParts().encoding)


def test_each_whole_is_the_models_generate_of_its_parts_whatever_else_the_table_holds(pyfunc):
    both = pyfunc.predict(None, parts_table(), {"num_samples": 3, "seed": 5})
    assert list(both.columns) == ["whole_id", "sample", "step", "value"] and len(both) == 2 * 3 * STEPS
    torch.manual_seed(5)
    expected = pyfunc.model.generate(torch.tensor([0, 3]), 3, torch.tensor([[1.5, 0.0], [4.2, 3.0]]),
                                     HouseholdParts().conditions("sunday", -4.0), observation_noise=True)
    torch.testing.assert_close(torch.tensor(both[both.whole_id == "a"].value.to_numpy()).float(), expected.flatten())
    alone = pyfunc.predict(None, parts_table().iloc[2:], {"num_samples": 3, "seed": 5})
    assert alone.value.tolist() == both[both.whole_id == "b"].value.tolist()
    mean = pyfunc.predict(None, parts_table(), {"num_samples": 3, "seed": 5, "observation_noise": False})
    assert not mean.value.equals(both.value)  # the default draws the noise the households evaluation measures


def test_training_logs_and_registers_the_model_which_loads_from_the_registry(run, pyfunc):
    root, store = run
    client = mlflow.MlflowClient(tracking_uri=store)
    (training,) = client.search_runs([client.get_experiment_by_name("households").experiment_id])
    (output,) = training.outputs.model_outputs
    assert training.info.status == "FINISHED"
    mlflow.set_tracking_uri(store)
    try:
        loaded = mlflow.pyfunc.load_model("models:/feeders/1")
        assert loaded.metadata.model_id == output.model_id and loaded.metadata.metadata["unit"] == "kW"
        params = {"num_samples": 2, "seed": 1}
        served, direct = loaded.predict(parts_table(), params), pyfunc.predict(None, parts_table(), params)
        pd.testing.assert_frame_equal(served, direct, check_dtype=False)  # whatever text type each side uses
        assert main(["log-model", "--checkpoint", str(root / "run" / "checkpoint.pt"), "--register", "feeders",
                     "--tracking-uri", store]) == 0
        assert sorted(int(v.version) for v in client.search_model_versions("name = 'feeders'")) == [1, 2]
    finally:
        mlflow.set_tracking_uri("")


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def post(url, body):
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_mlflow_models_serve_answers_a_json_request_with_curves_and_a_bad_one_with_400(run):
    root, store = run
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "mlflow", "models", "serve", "-m", "models:/feeders/1",
                               "--env-manager", "local", "--host", "127.0.0.1", "-p", str(port)],
                              env={**os.environ, "MLFLOW_TRACKING_URI": store}, cwd=root,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2):
                    break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "the scoring server did not start"
                time.sleep(0.5)
        table = parts_table().iloc[:2]
        body = {"dataframe_split": {"columns": list(table.columns), "data": table.values.tolist()},
                "params": {"num_samples": 2}}
        status, answer = post(f"http://127.0.0.1:{port}/invocations", body)
        rows = pd.DataFrame(answer["predictions"])
        assert status == 200 and len(rows) == 2 * STEPS and rows.groupby("sample").step.max().tolist() == [95, 95]
        body["dataframe_split"]["data"][0][1] = "retired"
        status, answer = post(f"http://127.0.0.1:{port}/invocations", body)
        assert status == 400 and "unknown part category 'retired'" in answer["message"]
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)


def test_an_evaluations_metrics_are_linked_to_the_logged_model_and_the_generator_dataset(run):
    root, store = run
    client = mlflow.MlflowClient(tracking_uri=store)
    (training,) = [r for r in client.search_runs([client.get_experiment_by_name("households").experiment_id])
                   if "mlflow.parentRunId" not in r.data.tags]
    assert main(["evaluate", "--checkpoint", str(root / "run" / "checkpoint.pt"), "--part-counts", "2",
                 "--num-samples", "8", "--multisets", "1", "--permutations", "5", "--tracking-uri", store,
                 "--out-dir", str(root / "evaluation")]) == 0
    models = client.search_logged_models(experiment_ids=[training.info.experiment_id],
                                         filter_string=f"source_run_id = '{training.info.run_id}'",
                                         order_by=[{"field_name": "creation_timestamp", "ascending": False}])
    linked = {metric.key: metric for metric in models[0].metrics}
    metric = linked["eval/compvae/mmd2"]
    assert metric.step == 2 and metric.dataset_name == "households generator" and metric.dataset_digest
    (evaluation,) = client.search_runs([training.info.experiment_id],
                                       f"tags.mlflow.parentRunId = '{training.info.run_id}'")
    assert metric.run_id == evaluation.info.run_id
    assert [i.dataset.name for i in evaluation.inputs.dataset_inputs] == ["households generator"]
    assert evaluation.inputs.dataset_inputs[0].tags[0].value == "evaluation"
    assert evaluation.data.params["num_samples"] == "8" and evaluation.data.params["multisets_per_k"] == "1"
    assert "compvae-geo evaluate --checkpoint" in evaluation.data.tags["mlflow.note.content"]


def test_checkpoint_flags_take_a_registered_model_or_a_run_uri(run, tmp_path, monkeypatch, capsys):
    root, store = run
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    client = mlflow.MlflowClient(tracking_uri=store)
    (training,) = [r for r in client.search_runs([client.get_experiment_by_name("households").experiment_id])
                   if "mlflow.parentRunId" not in r.data.tags]
    local = tmp_path / "local.csv"
    common = ["--parts", "single,family", "--num-samples", "2", "--seed", "3", "--no-plot"]
    assert main(["generate", "--checkpoint", str(root / "run" / "checkpoint.pt"), *common, "--out", str(local)]) == 0
    for uri in ("models:/feeders/1", f"runs:/{training.info.run_id}"):
        out = tmp_path / f"{uri.split(':')[0]}.csv"
        assert main(["generate", "--checkpoint", uri, *common, "--out", str(out)]) == 0
        pd.testing.assert_frame_equal(pd.read_csv(out), pd.read_csv(local))
    capsys.readouterr()
    assert main(["generate", "--checkpoint", "models:/no-such-model/1", *common, "--out", str(tmp_path / "x.csv")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("compvae-geo: error: cannot fetch models:/no-such-model/1") and err.count("\n") == 1
