"""The GPU path: training and generation on a CUDA device (skipped without one; benchmarks/gpu_check.sh runs them)."""
import pytest
import torch
from helpers import TINY_MODEL, TINY_MODEL_ARGS, TINY_TRAIN

from compvae_geo.cli import main
from compvae_geo.models import load_model
from compvae_geo.training import RunSpec, TrainConfig, Trainer

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]


@pytest.mark.parametrize("bf16", [False, True])
def test_a_run_trains_on_the_gpu_with_data_drawn_there(tmp_path, bf16):
    config = TrainConfig(device="cuda", bf16=bf16, iterations=4, batch_size=16, k_max=4, log_every=2, eval_every=4,
                         eval_wholes=4, eval_part_counts=(1, 3))
    trainer = Trainer(RunSpec.build(config, tmp_path / "c.pt", TINY_MODEL))
    batch = trainer.problem.sample_batch(4, 3, generator=trainer.data_generator, device=trainer.device)
    assert batch.whole.is_cuda and batch.part.is_cuda
    assert all(group["fused"] for group in trainer.optimizer.param_groups)
    result = trainer.run()
    assert result.step == 4 and result.skipped_steps == 0
    assert all(torch.isfinite(p).all() and p.is_cuda for p in trainer.model.parameters())


def test_the_command_trains_on_cuda_and_generates_there(tmp_path):
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert main(["train", *TINY_TRAIN, *TINY_MODEL_ARGS, "--device", "cuda", "--bf16", "true",
                 "--out-dir", str(tmp_path / "run"), "--tracking-uri", store]) == 0
    model = load_model(tmp_path / "run" / "checkpoint.pt", map_location="cuda")
    samples = model.generate(torch.tensor([1, 2, 2], device="cuda"), 8)
    assert samples.is_cuda and torch.isfinite(samples).all()


def test_compiled_training_runs_on_the_gpu(tmp_path):
    config = TrainConfig(device="cuda", compile=True, iterations=6, batch_size=16, k_max=4, log_every=2,
                         eval_every=6, eval_wholes=4, eval_part_counts=(1, 3))
    trainer = Trainer(RunSpec.build(config, tmp_path / "c.pt", TINY_MODEL))
    assert trainer.run().skipped_steps == 0
