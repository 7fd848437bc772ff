"""Checkpoints.

Format 1 files (written by the code before the package split, commit cfa6fe9) still load and compute what they computed
then; files that cannot be upgraded are refused by name.
"""
from pathlib import Path

import pytest
import torch
from torch_geometric.data import Batch

from compvae_geo import CompVAE, LatentNoise, load_model
from compvae_geo.checkpoint import CHECKPOINT_FORMAT, read_model_payload
from compvae_geo.training import Trainer

DATA = Path(__file__).parent / "data"


def test_a_format_1_model_loads_and_gives_the_losses_it_gave_then():
    model = load_model(DATA / "format1_model.pt")
    assert isinstance(model, CompVAE) and model.part_prior.context is not None
    expected = torch.load(DATA / "format1_model_expected.pt", weights_only=True)
    batch = Batch(part=expected["part"], whole=expected["whole"], batch=expected["batch"])
    noise = LatentNoise(expected["noise_z"], expected["noise_node"], expected["noise_w"])
    terms = model.loss(batch, noise)
    for key in ("w", "z", "x"):
        torch.testing.assert_close(getattr(terms, key), expected[key], rtol=0, atol=0)


def test_a_format_1_training_checkpoint_resumes(tmp_path):
    path = tmp_path / "checkpoint.pt"
    path.write_bytes((DATA / "format1_training.pt").read_bytes())
    trainer = Trainer.resume(path, iterations=5)
    assert trainer.step == 3
    trainer.run()
    payload = read_model_payload(path)
    assert payload["format"] == CHECKPOINT_FORMAT and payload["training"]["step"] == 5
    assert "prior_fit_steps" not in payload["training"]["config"]


def test_a_format_1_checkpoint_of_a_removed_option_is_refused_by_name(tmp_path):
    payload = torch.load(DATA / "format1_model.pt", weights_only=True)
    payload["config"]["fitted_prior"] = True
    torch.save(payload, tmp_path / "fitted.pt")
    with pytest.raises(ValueError, match="uses fitted_prior=True, an option removed in format 2"):
        load_model(tmp_path / "fitted.pt")
    payload["format"] = 7
    torch.save(payload, tmp_path / "future.pt")
    with pytest.raises(ValueError, match="not a compvae_geo checkpoint of format 1 or 2 \\(format: 7\\)"):
        load_model(tmp_path / "future.pt")
