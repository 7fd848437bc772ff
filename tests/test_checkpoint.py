"""Checkpoints.

Format 1 files (written by the code before the package split, commit cfa6fe9), format 2 files (before the model was
composed of modules, commit 9268b66) and today's format 3 (``tests/data/write_fixtures.py`` writes them) still load
and compute what they computed then; files that cannot be upgraded are refused by name.
"""
import os
import pickle
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from torch_geometric.data import Batch

from compvae_geo import CompVAE, LatentNoise, load_model
from compvae_geo.checkpoint import CHECKPOINT_FORMAT, atomic_torch_save, read_model_payload
from compvae_geo.cli import main
from compvae_geo.training import Trainer

DATA = Path(__file__).parent / "data"


def test_a_format_1_model_loads_and_gives_the_losses_it_gave_then():
    model = load_model(DATA / "format1_model.pt")
    assert isinstance(model, CompVAE) and model.part_prior.context is not None
    expected = torch.load(DATA / "format1_model_expected.pt", weights_only=True)
    batch = Batch(part=expected["part"], whole=expected["whole"], batch=expected["batch"])
    noise = LatentNoise(expected["noise_z"], expected["noise_node"], expected["noise_w"])
    terms = model.loss(batch, noise)
    for key in ("w", "z", "x"):  # the same math; sums taken in another order since round off in the last bits
        torch.testing.assert_close(getattr(terms, key), expected[key], rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("version", [2, 3])
def test_format_2_and_3_models_load_and_give_the_losses_they_gave_then_bit_for_bit(version):
    """Written by ``tests/data/write_fixtures.py`` (format 2: before the model was composed of modules, at 9268b66)."""
    expected = torch.load(DATA / f"format{version}_expected.pt", weights_only=True)
    batch = Batch(part=expected["part"], part_attr=expected["part_attr"], whole=expected["whole"],
                  whole_attr=expected["whole_attr"], batch=expected["batch"])
    model = load_model(DATA / f"format{version}_model.pt")  # z first, rendered parts, group-factor prior, conditions
    assert model.z_prior.draws_first and model.part_renderer is not None
    terms = model.loss(batch, LatentNoise(expected["noise_z"], expected["noise_node"], expected["noise_w"]))
    baseline = load_model(DATA / f"format{version}_count_cvae.pt")
    torch.manual_seed(5)
    baseline_terms = baseline.loss(batch)
    for key in ("w", "z", "x"):
        assert torch.equal(getattr(terms, key).detach(), expected[key])
        assert torch.equal(getattr(baseline_terms, key).detach(), expected[f"cvae_{key}"])


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
    with pytest.raises(ValueError, match="checkpoint \\(format 7; this version reads formats 1 to 3"):
        load_model(tmp_path / "future.pt")


class RunsCode:
    """Unpickling it would run a shell command: a checkpoint must never get that far."""

    def __reduce__(self):
        return (os.system, ("touch /tmp/compvae_geo_pwned",))


def not_checkpoints(tmp_path):
    good = (DATA / "format1_model.pt").read_bytes()
    files = {"empty": b"", "random": os.urandom(4096), "truncated": good[: len(good) // 2]}
    for name, content in files.items():
        (tmp_path / f"{name}.pt").write_bytes(content)
    torch.save({"state_dict": RunsCode()}, tmp_path / "malicious.pt")
    (tmp_path / "pickle.pt").write_bytes(pickle.dumps(RunsCode()))
    torch.save([1, 2], tmp_path / "list.pt")
    (tmp_path / "a_directory").mkdir()
    return sorted(tmp_path.iterdir())


def test_what_is_not_a_checkpoint_is_refused_in_one_line_without_advising_unsafe_loading(tmp_path, capsys):
    for path in not_checkpoints(tmp_path):
        with pytest.raises(ValueError, match=f"^{path} is not a compvae_geo checkpoint \\(") as caught:
            load_model(path)
        assert "weights_only" not in str(caught.value) and "\n" not in str(caught.value)
        with pytest.raises(ValueError, match="is not a compvae_geo checkpoint"):
            CompVAE.load(path)
        for argv in (["generate", "--checkpoint", str(path), "--parts", "1"],
                     ["evaluate", "--checkpoint", str(path), "--no-mlflow"],
                     ["train", "--resume", str(path)]):
            assert main(argv) == 2
            err = capsys.readouterr().err
            assert err.startswith(f"compvae-geo: error: {path} is not a compvae_geo checkpoint (")
            assert "Traceback" not in err
    assert not Path("/tmp/compvae_geo_pwned").exists()


def test_a_checkpoint_with_non_finite_weights_is_refused(tmp_path, capsys):
    model = CompVAE()
    with torch.no_grad():
        next(model.parameters())[0] = float("nan")
    model.save(tmp_path / "diverged.pt")
    with pytest.raises(ValueError, match="holds non-finite weights .* its training diverged"):
        load_model(tmp_path / "diverged.pt")
    assert main(["generate", "--checkpoint", str(tmp_path / "diverged.pt"), "--parts", "1",
                 "--out", str(tmp_path / "x.csv")]) == 2
    assert "non-finite weights" in capsys.readouterr().err and not (tmp_path / "x.csv").exists()


def test_checkpoints_are_synced_to_disk_and_renamed_atomically(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(os.fstat(fd).st_mode) or real_fsync(fd))
    atomic_torch_save({"a": torch.ones(3)}, tmp_path / "checkpoint.pt")
    assert [stat.S_ISREG(mode) for mode in synced] == [True, False]  # the file, then its directory
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]


def test_temporary_files_of_a_killed_write_are_cleaned_up_by_the_next_write(tmp_path):
    # a real writer, killed with SIGKILL while its temporary file is half written
    writer = textwrap.dedent(f"""
        import time, torch
        from compvae_geo.checkpoint import atomic_torch_save
        def slow_save(payload, handle):
            handle.write(b"half a checkpoint"); handle.flush(); time.sleep(60)
        torch.save = slow_save
        atomic_torch_save({{}}, {str(tmp_path / "checkpoint.pt")!r})
    """)
    for _ in range(2):
        process = subprocess.Popen([sys.executable, "-c", writer])
        deadline = time.monotonic() + 60
        while not list(tmp_path.glob(".checkpoint.pt.*.tmp")) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert len(list(tmp_path.glob(".checkpoint.pt.*.tmp"))) == 1  # the second writer removed the first's
    atomic_torch_save({"a": torch.ones(3)}, tmp_path / "checkpoint.pt")
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]
    assert torch.equal(torch.load(tmp_path / "checkpoint.pt", weights_only=True)["a"], torch.ones(3))
