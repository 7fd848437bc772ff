"""Training over several processes: real gloo processes started by torchrun (CPU only)."""
import subprocess
import sys
from pathlib import Path

import torch
from helpers import TINY_MODEL_ARGS
from mlflow.tracking import MlflowClient

from compvae_geo.models import BITS_PER_NAT
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
    two = [torch.load(tmp_path / f"two.rank{rank}.pt", weights_only=True) for rank in (0, 1)]
    for result in two:
        assert result["skipped_steps"] == 0
        for key, value in one["state_dict"].items():
            torch.testing.assert_close(result["state_dict"][key], value, rtol=1e-5, atol=1e-6, msg=key)
    # what a step logs is the mean over the ranks of their own losses (one process: its own), on every rank
    mean = (two[0]["own_means"] + two[1]["own_means"]) / 2
    assert not torch.allclose(two[0]["own_means"], two[1]["own_means"])  # each rank had its own data
    for result, expected in ((one, one["own_means"]), (two[0], mean), (two[1], mean)):
        logged = torch.tensor([result["logged"][f"loss/{term}_bits"] for term in "wzx"], dtype=torch.float64)
        torch.testing.assert_close(logged, expected.double() * BITS_PER_NAT, rtol=1e-6, atol=0)


def test_a_non_finite_loss_on_one_rank_skips_the_step_on_both(tmp_path):
    script = str(SCRIPTS / "ddp_one_step.py")
    run([*TORCHRUN, script, str(tmp_path / "two"), "nan_on_rank_1"], tmp_path)
    results = [torch.load(tmp_path / f"two.rank{rank}.pt", weights_only=True) for rank in (0, 1)]
    assert [result["skipped_steps"] for result in results] == [1, 1]
    for key, value in results[0]["state_dict"].items():  # nothing applied: both still hold the same weights
        torch.testing.assert_close(results[1]["state_dict"][key], value, rtol=0, atol=0)


def metric_steps(store, run_id, key="loss/elbo_bits"):
    return [metric.step for metric in MlflowClient(tracking_uri=store).get_metric_history(run_id, key)]


def test_a_torchrun_run_resumed_after_3_steps_equals_the_6_steps_run_in_one_mlflow_run_and_one_checkpoint(tmp_path):
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    every_step = [*TRAIN, "--log-every", "1", "--tracking-uri", store]
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    run([*TORCHRUN, "-m", "compvae_geo", "train", "--iterations", "6", "--out-dir", str(straight),
         "--experiment", "straight", *every_step], tmp_path)
    run([*TORCHRUN, "-m", "compvae_geo", "train", "--iterations", "3", "--out-dir", str(resumed),
         "--experiment", "resumed", *every_step], tmp_path)
    checkpoint = torch.load(resumed / "checkpoint.pt", weights_only=True)
    assert checkpoint["training"]["step"] == 3 and len(checkpoint["training"]["rank_rngs"]) == 1
    run([*TORCHRUN, "-m", "compvae_geo", "train", "--resume", str(resumed / "checkpoint.pt"), "--iterations", "6",
         "--tracking-uri", store], tmp_path)
    assert sorted(path.name for path in resumed.iterdir() if path.suffix == ".pt") == ["checkpoint.pt"]
    client = MlflowClient(tracking_uri=store)
    (first,) = client.search_runs([client.get_experiment_by_name("straight").experiment_id])
    (second,) = client.search_runs([client.get_experiment_by_name("resumed").experiment_id])
    assert second.info.status == "FINISHED" and metric_steps(store, second.info.run_id) == [1, 2, 3, 4, 5, 6]
    for key in ("loss/w_bits", "loss/z_bits", "loss/x_bits"):  # every rank went on with its own data stream
        values = [[m.value for m in client.get_metric_history(r.info.run_id, key)] for r in (first, second)]
        assert values[0] == values[1], key
    weights = [torch.load(out / "checkpoint.pt", weights_only=True)["state_dict"] for out in (straight, resumed)]
    for key, value in weights[0].items():
        torch.testing.assert_close(weights[1][key], value, rtol=0, atol=0, msg=key)


def test_a_killed_worker_restarts_the_group_from_the_last_checkpoint_in_the_same_run(tmp_path):
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = run([*TORCHRUN, "--max-restarts", "1", str(SCRIPTS / "kill_rank_1.py"), "train", "--iterations", "20",
                  "--checkpoint-minutes", "1e-9", "--tracking-uri", store, *TRAIN], tmp_path)
    assert "done: 20 steps" in result.stdout
    assert (tmp_path / "killed").read_text() == "12"  # rank 1 was killed at step 12 of the first start ...
    for rank in (0, 1):  # ... and both ranks of the restarted group went on from the last checkpoint before it
        restart, step = map(int, (tmp_path / f"restarted.rank{rank}").read_text().split())
        assert restart == 1 and 0 < step <= 12
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
