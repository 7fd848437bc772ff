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
TRAIN = ["--no-log-model", "--batch-size", "8", "--k-max", "3", "--eval-every", "1000", "--eval-wholes", "4",
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
    for result in two:  # a non-finite loss on rank 1 only: the step is skipped on both, nothing applied
        assert result["skipped_after_nan"] == 1 and result["unchanged_by_nan"]
    assert not torch.allclose(two[0]["own_means"], two[1]["own_means"])  # each rank had its own data
    for result, expected in ((one, one["own_means"]), (two[0], mean), (two[1], mean)):
        logged = torch.tensor([result["logged"][f"loss/{term}_bits"] for term in "wzx"], dtype=torch.float64)
        torch.testing.assert_close(logged, expected.double() * BITS_PER_NAT, rtol=1e-6, atol=0)


def metric_steps(store, run_id, key="loss/elbo_bits"):
    return [metric.step for metric in MlflowClient(tracking_uri=store).get_metric_history(run_id, key)]


def test_a_run_killed_and_restarted_by_torchrun_equals_the_uninterrupted_run_in_one_mlflow_run(tmp_path):
    """Rank 1 is killed at step 3; torchrun restarts the group from the last checkpoint, in the same MLflow run.

    Its weights and every logged loss equal those of the same run left alone: each rank went on with its own data
    stream and noise (the resume is exact).
    """
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    every_step = [*TRAIN, "--iterations", "6", "--log-every", "1", "--tracking-uri", store]
    straight = tmp_path / "straight"
    run([*TORCHRUN, "-m", "compvae_geo", "train", "--out-dir", str(straight), "--experiment", "straight", *every_step],
        tmp_path)
    assert sorted(path.name for path in straight.iterdir() if path.suffix == ".pt") == ["checkpoint.pt"]
    assert len(torch.load(straight / "checkpoint.pt", weights_only=True)["training"]["rank_rngs"]) == 1
    result = run([*TORCHRUN, "--max-restarts", "1", str(SCRIPTS / "kill_rank_1.py"), "train", "--checkpoint-minutes",
                  "1e-9", "--experiment", "restarted", *every_step], tmp_path, env={"KILL_AT_STEP": "3"})
    assert "done: 6 steps" in result.stdout
    assert (tmp_path / "killed").read_text() == "3"  # rank 1 was killed at step 3 of the first start ...
    for rank in (0, 1):  # ... and both ranks of the restarted group went on from the last checkpoint before it
        restart, step = map(int, (tmp_path / f"restarted.rank{rank}").read_text().split())
        assert restart == 1 and 0 < step <= 3
    (restarted,) = (tmp_path / "runs").iterdir()  # runs/sine-<torchrun run id>, the same after the restart
    client = MlflowClient(tracking_uri=store)
    (first,) = client.search_runs([client.get_experiment_by_name("straight").experiment_id])
    (second,) = client.search_runs([client.get_experiment_by_name("restarted").experiment_id])
    assert second.info.status == "FINISHED" and metric_steps(store, second.info.run_id) == [1, 2, 3, 4, 5, 6]
    for key in ("loss/w_bits", "loss/z_bits", "loss/x_bits"):  # each step logged once, as the run left alone logged it
        values = [[m.value for m in client.get_metric_history(r.info.run_id, key)] for r in (first, second)]
        assert values[0] == values[1], key
    weights = [torch.load(out / "checkpoint.pt", weights_only=True)["state_dict"] for out in (straight, restarted)]
    for key, value in weights[0].items():
        torch.testing.assert_close(weights[1][key], value, rtol=0, atol=0, msg=key)


def test_the_global_batch_is_shared_equally_or_refused():
    assert Ranks(rank=1, world_size=4).share(128) == 32
    try:
        Ranks(rank=0, world_size=3).share(128)
    except ValueError as error:
        assert "multiple of the number of processes (3)" in str(error)
    else:
        raise AssertionError("an unequal share was accepted")
