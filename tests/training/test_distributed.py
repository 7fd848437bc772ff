"""Training over several processes: real gloo processes started by torchrun (CPU only)."""
import subprocess
import sys
from pathlib import Path

import torch
from helpers import TINY_MODEL_ARGS
from mlflow.tracking import MlflowClient

from compvae_geo.training.distributed import Ranks

SCRIPTS = Path(__file__).parent / "scripts"
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
TRAIN = ["--batch-size", "8", "--k-max", "3", "--eval-every", "1000", "--eval-wholes", "4",
         "--eval-part-counts", "1,3", "--log-every", "2", *TINY_MODEL_ARGS]


def run(command, cwd, env=None):
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120,
                            env={"OMP_NUM_THREADS": "1", **__import__("os").environ, **(env or {})})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def test_two_processes_make_the_update_one_process_makes_on_the_union_of_their_data(tmp_path):
    script = str(SCRIPTS / "ddp_one_step.py")
    run([sys.executable, script, str(tmp_path / "one")], tmp_path)
    run([*TORCHRUN, script, str(tmp_path / "two")], tmp_path)
    one = torch.load(tmp_path / "one.rank0.pt", weights_only=True)
    for rank in (0, 1):
        two = torch.load(tmp_path / f"two.rank{rank}.pt", weights_only=True)
        assert two["skipped_steps"] == 0
        for key, value in one["state_dict"].items():
            torch.testing.assert_close(two["state_dict"][key], value, rtol=1e-5, atol=1e-6, msg=key)


def test_a_non_finite_loss_on_one_rank_skips_the_step_on_both(tmp_path):
    script = str(SCRIPTS / "ddp_one_step.py")
    run([*TORCHRUN, script, str(tmp_path / "two"), "nan_on_rank_1"], tmp_path)
    results = [torch.load(tmp_path / f"two.rank{rank}.pt", weights_only=True) for rank in (0, 1)]
    assert [result["skipped_steps"] for result in results] == [1, 1]
    for key, value in results[0]["state_dict"].items():  # nothing applied: both still hold the same weights
        torch.testing.assert_close(results[1]["state_dict"][key], value, rtol=0, atol=0)


def metric_steps(store, run_id, key="loss/elbo_bits"):
    return [metric.step for metric in MlflowClient(tracking_uri=store).get_metric_history(run_id, key)]


def test_a_torchrun_run_makes_one_mlflow_run_and_one_checkpoint_and_resumes(tmp_path):
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    out = tmp_path / "out"
    run([*TORCHRUN, "-m", "compvae_geo", "train", "--iterations", "6", "--out-dir", str(out),
         "--tracking-uri", store, *TRAIN], tmp_path)
    checkpoint = torch.load(out / "checkpoint.pt", weights_only=True)
    assert checkpoint["training"]["step"] == 6 and len(checkpoint["training"]["rank_rngs"]) == 1
    assert sorted(path.name for path in out.iterdir() if path.suffix == ".pt") == ["checkpoint.pt"]
    client = MlflowClient(tracking_uri=store)
    experiment = client.get_experiment_by_name("sine")
    (first,) = client.search_runs([experiment.experiment_id])
    run([*TORCHRUN, "-m", "compvae_geo", "train", "--resume", str(out / "checkpoint.pt"), "--iterations", "10",
         "--tracking-uri", store], tmp_path)
    (resumed,) = client.search_runs([experiment.experiment_id])
    assert resumed.info.run_id == first.info.run_id and resumed.info.status == "FINISHED"
    assert metric_steps(store, first.info.run_id) == [2, 4, 6, 8, 10]


def test_a_killed_worker_restarts_the_group_from_the_last_checkpoint_in_the_same_run(tmp_path):
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = run([*TORCHRUN, "--max-restarts", "1", str(SCRIPTS / "kill_rank_1.py"), "train", "--iterations", "20",
                  "--checkpoint-minutes", "1e-9", "--tracking-uri", store, *TRAIN], tmp_path)
    assert "done: 20 steps" in result.stdout
    (out,) = (tmp_path / "runs").iterdir()  # runs/sine-<torchrun run id>, the same after the restart
    assert torch.load(out / "checkpoint.pt", weights_only=True)["training"]["step"] == 20
    client = MlflowClient(tracking_uri=store)
    experiment = client.get_experiment_by_name("sine")
    (only,) = client.search_runs([experiment.experiment_id])
    assert only.info.status == "FINISHED"
    assert metric_steps(store, only.info.run_id) == list(range(2, 21, 2))  # continuous, each step once


def test_the_global_batch_is_shared_equally_or_refused():
    assert Ranks(rank=1, world_size=4).share(128) == 32
    try:
        Ranks(rank=0, world_size=3).share(128)
    except ValueError as error:
        assert "multiple of the number of processes (3)" in str(error)
    else:
        raise AssertionError("an unequal share was accepted")
