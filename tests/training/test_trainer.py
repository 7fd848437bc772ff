import json
import math
import os
import shutil
import time

import pandas as pd
import pytest
import torch
from helpers import RESUME, TINY_MODEL, TINY_MODEL_ARGS, TINY_TRAIN
from mlflow.tracking import MlflowClient

from compvae_geo import CompVAE, recompose
from compvae_geo.cli import main
from compvae_geo.datasets import check_edit
from compvae_geo.models import CountCVAE, load_model
from compvae_geo.problems import make_problem, model_config_for
from compvae_geo.tracking import Tracker, TrackingUnavailable
from compvae_geo.training import TrainConfig, preset


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One SQLite MLflow store for the module (creating one costs seconds)."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


@pytest.fixture(scope="module")
def trained_run(store, tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("run")
    code = main(["train", "--tracking-uri", store, "--out-dir", str(out_dir), *TINY_TRAIN, "--figures",
                 *TINY_MODEL_ARGS])
    assert code == 0
    return out_dir


def test_run_is_tracked_with_params_metrics_and_artifacts(store, trained_run):
    client = MlflowClient(tracking_uri=store)
    runs = client.search_runs([client.get_experiment_by_name("sine").experiment_id])
    run = next(r for r in runs if r.info.run_name == trained_run.name)
    assert run.info.status == "FINISHED"
    params = run.data.params
    assert params["iterations"] == "6" and params["batch_size"] == "8" and params["lr"] == str(TrainConfig().lr)
    assert params["model.w_dim"] == "4" and params["model.obs_shape"] == "[200]"
    for key in ("loss/w_bits", "loss/z_bits", "loss/x_bits", "loss/elbo_bits", "lr", "k_max", "kl_weight",
                "datapoints_per_s", "skipped_steps"):
        assert [m.step for m in client.get_metric_history(run.info.run_id, key)] == [2, 4, 6], key
    heldout = client.get_metric_history(run.info.run_id, "heldout_elbo_bits/K003")
    assert [m.step for m in heldout] == [4, 6] and all(math.isfinite(m.value) for m in heldout)
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    figures = {a.path for a in client.list_artifacts(run.info.run_id, "figures")}
    database_dir = store[len("sqlite:///"):].rsplit("/", 1)[0]
    assert run.info.artifact_uri.startswith(f"file://{database_dir}/mlruns/")
    assert {"checkpoint.pt", "config.json"} <= artifacts
    assert figures == {f"figures/{name}.png" for name in
                       ("loss_curves", "recomposition", "reconstruction", "incremental", "size_generality")}


def test_checkpoint_loads_and_generates(trained_run):
    model = CompVAE.load(trained_run / "checkpoint.pt")
    assert model.config.w_dim == TINY_MODEL["w_dim"]
    curves = model.generate(torch.tensor([0, 5, 5]), num_samples=3)
    assert curves.shape == (3, 200) and torch.isfinite(curves).all()


def test_resume_continues_the_same_run_and_step_count(store, trained_run):
    checkpoint = trained_run / "checkpoint.pt"
    state = torch.load(checkpoint, weights_only=True)["training"]
    assert state["step"] == 6
    assert main([*RESUME, str(checkpoint), "--tracking-uri", store, "--iterations", "10"]) == 0
    resumed = torch.load(checkpoint, weights_only=True)["training"]
    assert resumed["step"] == 10 and resumed["run_id"] == state["run_id"]
    assert resumed["config"]["lr"] == state["config"]["lr"]
    history = MlflowClient(tracking_uri=store).get_metric_history(state["run_id"], "loss/elbo_bits")
    assert [m.step for m in history] == [2, 4, 6, 8, 10]


def test_resumed_training_matches_uninterrupted_training(tmp_path):
    config = TrainConfig(iterations=6, batch_size=8, log_every=3, eval_every=6, eval_wholes=4,
                         eval_part_counts=(2,), k_max=3)
    model_config = model_config_for(make_problem("sine"), **TINY_MODEL)
    from compvae_geo.training import RunSpec, Trainer

    straight = Trainer(RunSpec.build(config, tmp_path / "a.pt", model=model_config))
    straight.run()
    first = Trainer(RunSpec.build(TrainConfig(**{**config.to_dict(), "iterations": 3}), tmp_path / "b.pt",
                                  model=model_config))
    first.run()
    second = Trainer.resume(tmp_path / "b.pt", iterations=6)
    second.run()
    for a, b in zip(straight.model.parameters(), second.model.parameters()):
        torch.testing.assert_close(a, b)


def test_non_finite_loss_is_skipped_and_counted(tmp_path):
    from compvae_geo.training import RunSpec, Trainer

    config = TrainConfig(iterations=4, batch_size=4, log_every=2, eval_every=4, eval_wholes=2,
                         eval_part_counts=(1,), k_max=2)
    trainer = Trainer(RunSpec.build(config, tmp_path / "c.pt", TINY_MODEL))
    real_loss, calls = trainer.model.loss, []

    def sometimes_nan(batch, noise=None):
        calls.append(1)
        terms = real_loss(batch, noise)
        if len(calls) == 2:
            terms.x = terms.x * float("nan")
        return terms

    trainer.model.loss = sometimes_nan
    before = {name: p.clone() for name, p in trainer.model.named_parameters()}
    trainer.train_step()
    after_good = {name: p.clone() for name, p in trainer.model.named_parameters()}
    assert trainer.train_step() is None and trainer.skipped_steps == 1 and trainer.step == 2
    assert all(torch.equal(after_good[n], p) for n, p in trainer.model.named_parameters())  # not applied
    assert any(not torch.equal(before[n], after_good[n]) for n in before)
    result = trainer.run()
    assert result.skipped_steps == 1 and result.step == 4


def test_ctrl_c_saves_a_checkpoint_and_stops(tmp_path):
    from compvae_geo.training import RunSpec, Trainer

    config = TrainConfig(iterations=100, batch_size=4, log_every=2, eval_every=100, eval_wholes=2,
                         eval_part_counts=(1,), k_max=2)
    trainer = Trainer(RunSpec.build(config, tmp_path / "d.pt", TINY_MODEL))

    def press_ctrl_c(step, metrics):
        if step >= 4:
            raise KeyboardInterrupt

    result = trainer.run(on_log=press_ctrl_c)
    assert result.interrupted and result.step == 4
    assert torch.load(tmp_path / "d.pt", weights_only=True)["training"]["step"] == 4


def test_unreachable_tracking_server_fails_fast():
    started = time.monotonic()
    with pytest.raises(TrackingUnavailable, match="cannot use the MLflow tracking store"):
        Tracker("sine", "http://127.0.0.1:9")  # nothing listens on the discard port
    assert time.monotonic() - started < 30


def test_tracking_failure_mid_run_is_reported_not_raised(store):
    tracker = Tracker("sine", store, run_name="drops")
    tracker.client.log_batch = lambda *args, **kwargs: (_ for _ in ()).throw(ConnectionError("gone"))
    tracker.log_metrics({"a": 1.0}, step=1)
    tracker.log_metrics({"a": 2.0}, step=2)
    assert not tracker.available and "gone" in tracker.failure


def test_generate_command_writes_curves_and_plot(trained_run, tmp_path, capsys):
    out = tmp_path / "gen" / "curves.csv"
    assert main(["generate", "--checkpoint", str(trained_run / "checkpoint.pt"), "--parts", "1,1,4",
                 "--num-samples", "5", "--problem", "sine", "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert list(table.columns) == ["whole_id", "sample", "step", "value"] and len(table) == 5 * 200
    assert table.groupby("sample").step.max().tolist() == [199] * 5
    asked = json.loads(out.with_name("curves.csv.json").read_text())
    assert asked["wholes"][0]["parts"] == ["1", "1", "4"] and asked["settings"]["observation_noise"] is False
    assert out.with_suffix(".png").stat().st_size > 0
    assert main(["generate", "--checkpoint", str(trained_run / "checkpoint.pt"), "--parts", "1", "--out",
                 str(out)]) == 2
    assert f"{out} exists" in capsys.readouterr().err
    assert main(["generate", "--checkpoint", str(trained_run / "checkpoint.pt"), "--parts", "12"]) == 2
    assert "category id 12 is not in 0..9" in capsys.readouterr().err


def test_presets_and_schedules():
    cpu, _ = preset("cpu")
    paper, paper_model = preset("paper")
    assert (paper.lr, paper.batch_size, paper.lr_halving_every, paper.k_grow_every, paper.iterations) == (
        1e-4, 256, 20_000, 3_000, 500_000)
    assert paper_model["hidden_dim"] > TrainConfig().batch_size // 2
    assert paper.learning_rate_at(0) == 1e-4 and paper.learning_rate_at(20_000) == 5e-5
    assert paper.learning_rate_at(10**7) == 1e-6
    assert [paper.max_parts_at(s) for s in (0, 2_999, 3_000, 10**6)] == [2, 2, 3, 16]
    assert paper.kl_weight_at(0) == 1.0  # the paper has no warm-up
    assert [cpu.kl_weight_at(s) for s in (0, cpu.kl_warmup_steps // 2, cpu.kl_warmup_steps, 10**6)] == [0, 0.5, 1, 1]
    with pytest.raises(ValueError, match="unknown preset"):
        preset("huge")
    with pytest.raises(ValueError, match="k_start"):
        TrainConfig(k_start=5, k_max=4)


def test_nan_weights_give_skipped_steps_not_exceptions(tmp_path):
    from compvae_geo.training import RunSpec, Trainer

    config = TrainConfig(iterations=2, batch_size=4, log_every=1, eval_every=2, eval_wholes=2,
                         eval_part_counts=(1,), k_max=2)
    trainer = Trainer(RunSpec.build(config, tmp_path / "e.pt", TINY_MODEL))
    with torch.no_grad():
        trainer.model.z_prior.net.lins[0].bias.fill_(float("nan"))
    assert trainer.train_step() is None and trainer.skipped_steps == 1


def test_a_run_spec_refuses_a_model_that_does_not_fit_its_problem(tmp_path):
    from compvae_geo import CompVAEConfig
    from compvae_geo.training import RunSpec

    with pytest.raises(ValueError, match="num_categories, obs_shape, part_attr_dim, whole_attr_dim do not fit the "
                                         "households data"):
        RunSpec.build(TrainConfig(problem="households"), tmp_path / "c.pt", model=CompVAEConfig())
    spec = RunSpec.build(TrainConfig(problem="households", device="cpu"), tmp_path / "c.pt", {"w_dim": 4})
    assert spec.model.num_categories == spec.problem.num_categories and spec.model.w_dim == 4
    assert spec.device == torch.device("cpu") and spec.preset is None


def test_count_cvae_baseline_trains_through_the_same_command(store, tmp_path):
    out_dir = tmp_path / "cvae"
    assert main(["train", "--tracking-uri", store, "--out-dir", str(out_dir), "--model", "count_cvae",
                 *TINY_TRAIN, *TINY_MODEL_ARGS]) == 0
    assert isinstance(load_model(out_dir / "checkpoint.pt"), CountCVAE)
    assert sorted(path.name for path in out_dir.iterdir()) == ["checkpoint.pt", "config.json"]  # --no-figures


def test_evaluate_command_compares_baselines_logs_to_the_training_run_and_feeds_the_report(
        store, trained_run, tmp_path, capsys):
    out_dir = tmp_path / "evaluation"
    checkpoint = str(trained_run / "checkpoint.pt")
    assert main(["evaluate", "--checkpoint", checkpoint, "--baseline", f"again={checkpoint}", "--part-counts", "1,3",
                 "--num-samples", "16", "--multisets", "1", "--permutations", "10", "--out-dir", str(out_dir),
                 "--tracking-uri", store]) == 0
    document = json.loads((out_dir / "evaluation.json").read_text())
    assert document["problem"] == "sine" and [row["k"] for row in document["per_k"]] == [1, 3]
    assert set(document["per_k"][0]["distances"]) == {"true", "compvae", "again", "naive"}
    assert document["command"].startswith("compvae-geo evaluate --checkpoint")
    trained_by = document["training_commands"]["compvae"]  # the preset it recorded, and what differs from it
    assert trained_by.startswith("compvae-geo train --problem sine --preset cpu") and "--iterations " in trained_by
    assert "--w-dim 4" in trained_by and "--eval-part-counts 1,3" in trained_by and "--lr " not in trained_by
    names = ("loss_curves", "recomposition", "reconstruction", "incremental", "size_generality")
    assert set(document["figures"]) == {f"{name}.png" for name in names}
    assert all((out_dir / name).stat().st_size > 0 for name in document["figures"])
    assert "L_w / L_z / L_x" in capsys.readouterr().out
    # logged into its own run, a child of the checkpoint's training run, one step per K
    client = MlflowClient(tracking_uri=store)
    training_id = torch.load(checkpoint, weights_only=True)["training"]["run_id"]
    training = client.get_run(training_id)
    (run,) = evaluation_runs(client, training_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "evaluation"
    history = client.get_metric_history(run.info.run_id, "eval/compvae/mmd2")
    assert [m.step for m in history] == [1, 3]
    assert history[0].value == document["per_k"][0]["distances"]["compvae"]["mmd2"]
    assert {a.path for a in client.list_artifacts(run.info.run_id, "evaluation")} >= {"evaluation/evaluation.json"}
    assert not client.get_metric_history(training_id, "eval/compvae/mmd2")
    assert {"mlflow.user", "mlflow.source.git.commit"} <= set(training.data.tags)
    results = tmp_path / "docs" / "results.md"
    assert main(["report", "--evaluation", str(out_dir / "evaluation.json"), "--out", str(results)]) == 0
    assert (tmp_path / "docs" / "figures" / "sine" / "size_generality.png").exists()
    assert "| 3 |" in results.read_text() and "](figures/sine/size_generality.png)" in results.read_text()


def test_a_training_run_logs_system_metrics_unless_mlflow_is_told_not_to(store, monkeypatch):
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "0.05")
    tracker = Tracker("system-metrics", store, system_metrics=True)
    time.sleep(1.0)
    tracker.end()
    metrics = MlflowClient(tracking_uri=store).get_run(tracker.run_id).data.metrics
    assert {"system/cpu_utilization_percentage", "system/system_memory_usage_megabytes"} <= set(metrics)
    monkeypatch.setenv("MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING", "false")
    assert Tracker("system-metrics", store, system_metrics=True).monitor is None


def test_a_run_reopened_by_id_creates_no_experiment_and_a_dead_server_leaves_mlflows_settings_alone(store):
    import socket

    first = Tracker("reopened", store)
    first.end()
    again = Tracker("not-an-experiment", store, run_id=first.run_id)
    assert again.experiment_id == first.experiment_id and again.experiment_name == "reopened"
    assert MlflowClient(tracking_uri=store).get_experiment_by_name("not-an-experiment") is None
    with socket.socket() as probe:  # a loopback port with no server
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    started = time.monotonic()
    with pytest.raises(TrackingUnavailable, match="cannot use the MLflow tracking store"):
        Tracker("anything", dead)
    assert time.monotonic() - started < 30  # no minutes of retries at the start...
    assert "MLFLOW_HTTP_REQUEST_MAX_RETRIES" not in os.environ  # ...and MLflow's retries for every later call


def evaluation_runs(client, training_id):
    experiment = client.get_run(training_id).info.experiment_id
    return client.search_runs([experiment], f"tags.mlflow.parentRunId = '{training_id}'")


def test_a_failed_evaluation_ends_its_own_run_failed_and_leaves_the_training_run_as_it_was(
        store, trained_run, monkeypatch, capsys):
    import compvae_geo.evaluation.run as evaluation_run

    checkpoint = trained_run / "checkpoint.pt"
    client = MlflowClient(tracking_uri=store)
    training_id = torch.load(checkpoint, weights_only=True)["training"]["run_id"]
    before = client.get_run(training_id).info

    def fail(*args, **kwargs):
        raise ValueError("the evaluation broke down")

    monkeypatch.setattr(evaluation_run, "_evaluate_per_k", fail)
    assert main(["evaluate", "--checkpoint", str(checkpoint), "--part-counts", "1", "--tracking-uri", store]) == 2
    assert "the evaluation broke down" in capsys.readouterr().err
    assert "FAILED" in {run.info.status for run in evaluation_runs(client, training_id)}
    after = client.get_run(training_id).info
    assert (after.status, after.end_time) == (before.status, before.end_time) == ("FINISHED", before.end_time)


def test_reports_of_two_problems_keep_their_own_documents_and_figures(store, trained_run, tmp_path, monkeypatch):
    sine_dir = tmp_path / "sine_eval"
    assert main(["evaluate", "--checkpoint", str(trained_run / "checkpoint.pt"), "--part-counts", "1",
                 "--num-samples", "8", "--multisets", "1", "--permutations", "5", "--out-dir", str(sine_dir),
                 "--no-mlflow"]) == 0
    other_dir = tmp_path / "other_eval"  # the same files, labelled as another problem's evaluation
    shutil.copytree(sine_dir, other_dir)
    document = json.loads((other_dir / "evaluation.json").read_text())
    (other_dir / "evaluation.json").write_text(json.dumps({**document, "problem": "sites"}))
    (other_dir / "incremental.png").write_bytes(b"not the sine figure")
    monkeypatch.chdir(tmp_path)
    assert main(["report", "--evaluation", str(sine_dir / "evaluation.json")]) == 0
    assert main(["report", "--evaluation", str(other_dir / "evaluation.json")]) == 0
    docs = tmp_path / "docs"
    assert (docs / "sine_results.md").exists() and (docs / "sites_results.md").exists()
    assert (docs / "figures" / "sine" / "incremental.png").read_bytes() == (sine_dir / "incremental.png").read_bytes()
    assert (docs / "figures" / "sites" / "incremental.png").read_bytes() == b"not the sine figure"
    assert "--out docs/sites_results.md" in (docs / "sites_results.md").read_text()


def test_evaluate_rejects_a_badly_named_baseline(trained_run, capsys):
    checkpoint = str(trained_run / "checkpoint.pt")
    assert main(["evaluate", "--checkpoint", checkpoint, "--baseline", checkpoint, "--no-mlflow"]) == 2
    assert "NAME=CHECKPOINT" in capsys.readouterr().err


def test_sites_problem_has_its_own_presets_and_trains_through_the_same_command(store, tmp_path):
    config, model_overrides = preset("cpu", "sites")
    assert config.k_max == 8 and config.problem == "sites" and model_overrides["w_dim"] == 64
    assert preset("paper", "sites")[0].k_max == 8 and preset("cpu", "sine")[0].k_max == 16
    assert model_overrides["render_channels"] > 0
    assert preset("cpu", "sine")[1]["render_channels"] > 0 and "render_channels" not in preset("paper", "sine")[1]
    out_dir = tmp_path / "sites"
    assert main(["train", "--problem", "sites", "--tracking-uri", store, "--out-dir", str(out_dir),
                 *TINY_TRAIN, "--figures", *TINY_MODEL_ARGS, "--prior-context-layers", "1"]) == 0
    model = CompVAE.load(out_dir / "checkpoint.pt")
    assert model.config.observation == "image" and model.config.part_attr_dim == 2
    assert model.part_renderer is not None and model.part_prior.context is not None
    assert torch.load(out_dir / "checkpoint.pt", weights_only=True)["training"]["step"] == 6
    assert all((out_dir / f"{name}.png").exists() for name in ("incremental", "reconstruction", "recomposition"))
    image = tmp_path / "generated.npy"
    assert main(["generate", "--checkpoint", str(out_dir / "checkpoint.pt"), "--parts", "0,4",
                 "--part-attr", "0.1,0.5;-0.4,0", "--num-samples", "2", "--out", str(image)]) == 0
    assert image.exists() and image.with_suffix(".png").exists()


def test_diverged_weights_go_back_to_the_last_good_state_and_training_goes_on(tmp_path):
    from compvae_geo.training import RunSpec, Trainer

    config = TrainConfig(iterations=12, batch_size=4, log_every=2, eval_every=100, eval_wholes=2,
                         eval_part_counts=(1,), k_max=2, restore_after_skips=3)
    trainer = Trainer(RunSpec.build(config, tmp_path / "r.pt", TINY_MODEL))
    config.iterations = 4
    trainer.run()  # logs at steps 2 and 4: the state of step 4 is kept
    kept = {name: p.clone() for name, p in trainer.model.named_parameters()}
    with torch.no_grad():  # the weights diverge: every batch from now on is non-finite
        trainer.model.z_prior.net.lins[0].bias.fill_(float("nan"))
    config.iterations = 12
    result = trainer.run()
    assert trainer.restores == 1 and result.skipped_steps == 3  # steps 5-7 skipped, then back to step 4's weights
    moved = [not torch.equal(kept[n], p) for n, p in trainer.model.named_parameters()]
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters()) and any(moved)  # steps 8-12 applied
    assert Trainer.resume(result.checkpoint).restores == 1


def test_without_restoring_diverged_weights_stay_skipped(tmp_path):
    from compvae_geo.training import RunSpec, Trainer

    config = TrainConfig(iterations=4, batch_size=4, log_every=2, eval_every=100, eval_wholes=2,
                         eval_part_counts=(1,), k_max=2, restore_after_skips=0)
    trainer = Trainer(RunSpec.build(config, tmp_path / "s.pt", TINY_MODEL))
    trainer.run()
    with torch.no_grad():
        trainer.model.z_prior.net.lins[0].bias.fill_(float("nan"))
    config.iterations = 10
    result = trainer.run()
    assert trainer.restores == 0 and result.skipped_steps == 6


def test_households_train_with_conditions_some_hidden_and_generate_with_and_without_them(store, tmp_path):
    out_dir = tmp_path / "households"
    assert main(["train", "--problem", "households", "--tracking-uri", store, "--out-dir", str(out_dir),
                 *[arg if arg != "6" else "20" for arg in TINY_TRAIN], *TINY_MODEL_ARGS]) == 0
    model = CompVAE.load(out_dir / "checkpoint.pt")
    assert model.config.whole_attr_dim == 4 and model.config.part_attr_dim == 2
    assert torch.load(out_dir / "checkpoint.pt", weights_only=True)["training"]["step"] == 20
    problem = make_problem("households")
    part = torch.tensor([0, 4, 5])
    attr = problem.sample_part_attr(part, torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    cold = model.generate(part, 3, attr, whole_attr=problem.conditions("weekday", -5.0))
    torch.manual_seed(0)
    mild = model.generate(part, 3, attr, whole_attr=problem.conditions("sunday", 15.0))
    torch.manual_seed(0)
    unknown = model.generate(part, 3, attr)
    assert cold.shape == mild.shape == unknown.shape == (3, 96)
    assert not torch.equal(cold, mild) and not torch.equal(cold, unknown)
    with pytest.raises(ValueError, match=r"whole_attr must have shape \(4,\)"):
        model.generate(part, 3, attr, whole_attr=torch.zeros(2))
    # the command line: conditions by name, the descriptors drawn from the simulator, kW with the noise by default
    out = tmp_path / "cold.csv"
    assert main(["generate", "--checkpoint", str(out_dir / "checkpoint.pt"), "--parts", "single,family_heat_pump,5",
                 "--condition", "day_type=weekday", "--condition", "mean_temperature=-5", "--num-samples", "3",
                 "--no-plot", "--out", str(out)]) == 0
    asked = json.loads(out.with_name("cold.csv.json").read_text())
    (whole,) = asked["wholes"]
    assert whole["parts"] == ["single", "family_heat_pump", "couple_pv"] and len(whole["descriptors"]) == 3
    assert whole["conditions"] == {"day_type": "weekday", "mean_temperature": -5.0}
    assert asked["unit"] == "kW" and asked["settings"]["observation_noise"] is True
    torch.manual_seed(0)
    expected = model.generate(part, 3, torch.tensor(whole["descriptors"]), problem.conditions("weekday", -5.0), True)
    torch.testing.assert_close(torch.tensor(pd.read_csv(out).value.to_numpy()).float(), expected.flatten())
    assert not out.with_suffix(".png").exists()
    parts_file = tmp_path / "feeders.csv"  # two feeders in one parts table, one of them on an unknown day
    parts_file.write_text("whole_id,category,annual_mwh,pv_kwp,day_type,mean_temperature\n"
                          "f1,single,1.5,0,sunday,15\nf1,couple_pv,3.0,5.5,sunday,15\nf2,family,4.2,0,,\n")
    assert main(["generate", "--checkpoint", str(out_dir / "checkpoint.pt"), "--parts-file", str(parts_file),
                 "--num-samples", "2", "--out", str(tmp_path / "feeders.parquet")]) == 0
    table = pd.read_parquet(tmp_path / "feeders.parquet")
    assert table.groupby("whole_id").size().to_dict() == {"f1": 2 * 96, "f2": 2 * 96}
    # what-if on a mild Sunday, parts and added parts by label: the observed day is drawn under those conditions
    out = tmp_path / "sunday.parquet"
    assert main(["whatif", "--checkpoint", str(out_dir / "checkpoint.pt"), "--problem", "households", "--parts",
                 "single,family", "--condition", "day_type=sunday", "--condition", "mean_temperature=15",
                 "--add", "couple_ev", "--num-samples", "4", "--no-plot", "--out", str(out)]) == 0
    asked = json.loads(out.with_name("sunday.parquet.json").read_text())
    assert asked["conditions"] == {"day_type": "sunday", "mean_temperature": 15.0} and asked["unit"] == "kW"
    assert asked["parts"] == ["single", "family"] and asked["added"] == ["couple_ev"]
    part, add = torch.tensor([0, 3]), torch.tensor([6])
    attr = problem.sample_part_attr(part, torch.Generator().manual_seed(0))
    generator = torch.Generator().manual_seed(0)
    observation = problem.observe(part, attr, problem.conditions("sunday", 15.0), generator=generator)
    edit = check_edit(2, None, add, problem.sample_part_attr(add, generator), 7, 2)
    torch.manual_seed(0)
    expected = recompose(model, observation.data(), edit, 4)
    torch.testing.assert_close(torch.tensor(pd.read_parquet(out).value.to_numpy()).float(), expected.flatten())
    assert not out.with_suffix(".png").exists()
    observed = tmp_path / "observed.pt"  # a given day: its conditions by name replace the file's
    data = observation.data()
    torch.save({"part": data.part, "whole": data.whole[0], "part_attr": data.part_attr}, observed)
    assert main(["whatif", "--checkpoint", str(out_dir / "checkpoint.pt"), "--observed", str(observed), "--remove",
                 "1", "--condition", "day_type=weekday", "--condition", "mean_temperature=-5", "--num-samples", "2",
                 "--no-plot", "--out", str(tmp_path / "weekday.csv")]) == 0
    asked = json.loads((tmp_path / "weekday.csv.json").read_text())
    assert asked["conditions"] == {"day_type": "weekday", "mean_temperature": -5.0} and asked["removed"] == [1]


def test_condition_dropout_hides_the_conditions_of_a_share_of_the_wholes(tmp_path):
    from compvae_geo.training import RunSpec, Trainer

    config = TrainConfig(problem="households", iterations=1, batch_size=400, condition_dropout=0.3)
    trainer = Trainer(RunSpec.build(config, tmp_path / "c.pt", TINY_MODEL))
    batch = trainer.problem.sample_batch(400, 2, generator=torch.Generator().manual_seed(0))
    known = batch.whole_attr.clone()
    trainer.hide_conditions(batch)
    hidden = torch.isnan(batch.whole_attr).all(-1)
    assert 0.2 < hidden.float().mean() < 0.4
    torch.testing.assert_close(batch.whole_attr[~hidden], known[~hidden])
    assert torch.isfinite(trainer.model.loss(batch).elbo).all()
    with pytest.raises(ValueError, match="condition_dropout must be in"):
        TrainConfig(condition_dropout=1.5)


def test_whatif_command_recomposes_a_drawn_or_a_given_observation(trained_run, tmp_path, capsys):
    checkpoint = str(trained_run / "checkpoint.pt")
    out = tmp_path / "whatif" / "curves.csv"
    assert main(["whatif", "--checkpoint", checkpoint, "--problem", "sine", "--parts", "1,4,4", "--remove", "0",
                 "--add", "7,7", "--num-samples", "5", "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert list(table.columns) == ["whole_id", "sample", "step", "value"] and len(table) == 5 * 200
    assert sorted(set(table["sample"])) == list(range(5)) and out.with_suffix(".png").stat().st_size > 0
    asked = json.loads((tmp_path / "whatif" / "curves.csv.json").read_text())
    assert asked["parts"] == ["1", "4", "4"] and asked["removed"] == [0] and asked["added"] == ["7", "7"]
    assert main(["whatif", "--checkpoint", checkpoint, "--problem", "sine", "--parts", "1", "--out", str(out)]) == 2
    assert "exists: choose another --out, or replace it with --overwrite" in capsys.readouterr().err
    observed = tmp_path / "observed.pt"
    torch.save({"part": torch.tensor([2, 3]), "whole": torch.zeros(200)}, observed)
    assert main(["whatif", "--checkpoint", checkpoint, "--observed", str(observed), "--add", "1",
                 "--num-samples", "3", "--out", str(tmp_path / "given.pt")]) == 0
    assert torch.load(tmp_path / "given.pt").shape == (3, 200)
    capsys.readouterr()
    torch.save({"part": torch.tensor([2, 3]), "whole": torch.zeros(200), "weather": torch.ones(1)}, observed)
    for args, message in [(["--observed", str(observed)], "unknown keys ['weather']"),
                          (["--problem", "sine", "--parts", "1,2", "--remove", "2"], "no part 2 to remove"),
                          (["--problem", "sine"], "--problem needs --parts"),
                          (["--problem", "sine", "--parts", "1", "--add", "10"], "added parts: part category")]:
        assert main(["whatif", "--checkpoint", checkpoint, *args, "--out", str(tmp_path / "x.csv")]) == 2
        assert message in capsys.readouterr().err


def test_evaluate_whatif_writes_its_table_into_the_evaluation_and_the_report(trained_run, tmp_path, capsys):
    out_dir = tmp_path / "evaluation"
    assert main(["evaluate", "--checkpoint", str(trained_run / "checkpoint.pt"), "--part-counts", "2",
                 "--num-samples", "8", "--multisets", "1", "--permutations", "5", "--out-dir", str(out_dir),
                 "--no-mlflow", "--whatif"]) == 0
    assert "what-if recomposition" in capsys.readouterr().out
    document = json.loads((out_dir / "evaluation.json").read_text())
    assert [(cell["n"], set(cell["distances"])) for cell in document["whatif"]] == [
        (2, {"true", "compvae", "from_scratch"})] * 5
    results = tmp_path / "results.md"
    readme = tmp_path / "README.md"
    readme.write_text("x\n<!-- headline sine: written by compvae-geo report --readme -->\n<!-- end headline sine -->\n"
                      "<!-- whatif sine: written by compvae-geo report --readme -->\n<!-- end whatif sine -->\n")
    assert main(["report", "--evaluation", str(out_dir / "evaluation.json"), "--out", str(results),
                 "--readme", str(readme)]) == 0
    assert "## What-if recomposition" in results.read_text() and "| 2 | swap half |" in results.read_text()
    assert "| remove half |" in readme.read_text()


def test_evaluate_without_per_k_measures_only_the_whatif_and_reports_to_its_own_document(trained_run, tmp_path,
                                                                                  monkeypatch):
    checkpoint = tmp_path / "run" / "checkpoint.pt"
    checkpoint.parent.mkdir()
    shutil.copyfile(trained_run / "checkpoint.pt", checkpoint)
    assert main(["evaluate", "--checkpoint", str(checkpoint), "--part-counts", "1", "--num-samples", "4",
                 "--multisets", "1", "--no-mlflow", "--whatif", "--no-per-k"]) == 0
    document = json.loads((tmp_path / "run" / "simulator" / "evaluation.json").read_text())
    assert "per_k" not in document and document["figures"] == [] and len(document["whatif"]) == 5
    assert not (tmp_path / "run" / "evaluation").exists()
    monkeypatch.chdir(tmp_path)
    assert main(["report", "--evaluation", str(tmp_path / "run" / "simulator" / "evaluation.json")]) == 0
    text = (tmp_path / "docs" / "sine_simulator.md").read_text()
    assert text.startswith("# What-if recomposition and peak days: the sine problem") and "| 1 | add half |" in text


def test_generate_tail_quantile_and_evaluate_tail(trained_run, tmp_path, capsys):
    checkpoint = str(trained_run / "checkpoint.pt")
    out = tmp_path / "peaks.csv"
    assert main(["generate", "--checkpoint", checkpoint, "--parts", "1,4", "--num-samples", "20",
                 "--tail-quantile", "0.99", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "the 0.99 quantile of the peak under the model:" in printed and "rejection: 100" in printed
    peaks = torch.tensor(pd.read_csv(out).groupby("sample").value.max().to_numpy())
    threshold = float(printed.split("under the model: ")[1].split()[0])
    assert peaks.shape == (20,) and (peaks > threshold * (1 - 1e-4)).all()
    assert main(["generate", "--checkpoint", checkpoint, "--parts", "1", "--tail-quantile", "1.5"]) == 2
    assert "tail_quantile must be 0 (no tail) or in (0, 1)" in capsys.readouterr().err
    out_dir = tmp_path / "tail"
    assert main(["evaluate", "--checkpoint", checkpoint, "--tail", "--no-per-k", "--tail-part-counts", "2",
                 "--tail-samples", "4", "--tail-sampler-samples", "50", "--out-dir", str(out_dir),
                 "--no-mlflow"]) == 0
    document = json.loads((out_dir / "evaluation.json").read_text())
    assert [(cell["n"], cell["quantile"]) for cell in document["tail"]] == [(2, 0.99), (2, 0.999)]
    assert "the peak days" in capsys.readouterr().out


def test_a_checkpoint_keeps_the_early_stopping_state_the_preset_and_the_saved_step(tmp_path):
    from compvae_geo.training import RunSpec, Trainer

    config = TrainConfig(iterations=6, batch_size=8, log_every=2, eval_every=2, eval_wholes=4,
                         eval_part_counts=(2,), k_max=3, patience=5)
    trainer = Trainer(RunSpec.build(config, tmp_path / "a.pt", TINY_MODEL, preset="cpu"))
    trainer.run()
    trainer.evaluations_since_best, trainer.restores = 2, 1  # (as a run that went on without improving would have)
    path = trainer.save_checkpoint()
    assert trainer.saved_step == 6 and trainer.best is not None and trainer.best[0] in (2, 4, 6)
    resumed = Trainer.resume(path)
    assert resumed.best == trainer.best and isinstance(resumed.best[0], int) and isinstance(resumed.best[1], float)
    assert resumed.evaluations_since_best == 2 and resumed.restores == 1 and resumed.spec.preset == "cpu"
    assert resumed.step == resumed.saved_step == 6
