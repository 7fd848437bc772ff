"""Training runs fail loudly and lose nothing: run directories, writes, divergence, MLflow run states.

Each test reproduces a defect of issue 19 (it failed on the code before the fix).
"""
import errno
import os
import shutil
import subprocess
import sys
import textwrap
import time

import pytest
import torch
from helpers import RESUME, TINY_MODEL_ARGS, TINY_TRAIN
from mlflow.tracking import MlflowClient

from compvae_geo.cli import main
from compvae_geo.evaluation import artifacts
from compvae_geo.models import load_model
from compvae_geo.training import launch
from compvae_geo.training import trainer as trainer_module

TRAIN = ["train", *TINY_TRAIN, *TINY_MODEL_ARGS]


@pytest.fixture
def store(tmp_path):
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


def runs_of(store):
    client = MlflowClient(tracking_uri=store)
    experiments = [e.experiment_id for e in client.search_experiments()]
    return client.search_runs(experiments) if experiments else []


def test_two_processes_started_in_the_same_second_on_a_fresh_store_both_succeed_in_their_own_directories(tmp_path):
    # the clock stands still, so both ask for the same runs/<problem>-<date>-<time>
    script = textwrap.dedent(f"""
        import sys, time
        time.strftime = lambda *args: "20261204-120000"
        from compvae_geo.cli import main
        sys.exit(main({TRAIN + ["--tracking-uri", f"sqlite:///{tmp_path / 'fresh.db'}"]!r}))
    """)
    processes = [subprocess.Popen([sys.executable, "-c", script], cwd=tmp_path, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outputs = [process.communicate(timeout=300)[0] for process in processes]
    assert [process.returncode for process in processes] == [0, 0], outputs
    directories = sorted(path.name for path in (tmp_path / "runs").iterdir())
    assert directories == ["sine-20261204-120000", "sine-20261204-120000-2"]
    for directory in directories:
        assert load_model(tmp_path / "runs" / directory / "checkpoint.pt") is not None
    runs = runs_of(f"sqlite:///{tmp_path / 'fresh.db'}")
    assert len(runs) == 2 and {run.info.status for run in runs} == {"FINISHED"}


def test_a_non_empty_out_dir_is_refused_before_anything_is_made(tmp_path, store, capsys):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "checkpoint.pt").write_bytes(b"another run's")
    assert main([*TRAIN, "--tracking-uri", store, "--out-dir", str(tmp_path / "taken")]) == 2
    assert "exists and is not empty" in capsys.readouterr().err
    assert (tmp_path / "taken" / "checkpoint.pt").read_bytes() == b"another run's" and not runs_of(store)


def test_an_unwritable_out_dir_is_refused_before_the_first_step(tmp_path, store, monkeypatch, capsys):
    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(launch.tempfile, "TemporaryFile", read_only)  # root may write anywhere: patch the write
    assert main([*TRAIN, "--tracking-uri", store, "--out-dir", str(tmp_path / "out")]) == 2
    assert "cannot write in" in capsys.readouterr().err and not runs_of(store)


def full_disk_after(calls_allowed, calls):
    real_save = torch.save

    def save(payload, handle):
        calls.append(1)
        if len(calls) > calls_allowed:
            handle.write(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        real_save(payload, handle)
    return save


def test_a_full_disk_keeps_the_last_checkpoint_and_training_goes_on(tmp_path, store, monkeypatch, caplog):
    calls = []
    monkeypatch.setattr(trainer_module.torch, "save", full_disk_after(1, calls))  # the step-0 checkpoint, then full
    monkeypatch.setattr(trainer_module.Trainer, "_final_checkpoint",
                        lambda self: (calls.clear(), trainer_module.Trainer.save_checkpoint(self))[1])
    out = tmp_path / "out"
    args = [*TRAIN, "--tracking-uri", store, "--out-dir", str(out), "--checkpoint-minutes", "1e-9"]
    assert main(args) == 0  # every periodic checkpoint failed, the final one succeeded
    assert "no space left on the disk of" in caplog.text and "training goes on" in caplog.text
    assert torch.load(out / "checkpoint.pt", weights_only=True)["training"]["step"] == 6
    assert [p.name for p in out.iterdir() if p.name.endswith(".tmp")] == []


def test_a_full_disk_at_the_end_names_the_last_good_checkpoint_and_fails_the_run(tmp_path, store, monkeypatch,
                                                                                  capsys):
    monkeypatch.setattr(trainer_module.torch, "save", full_disk_after(1, []))
    out = tmp_path / "out"
    assert main([*TRAIN, "--tracking-uri", store, "--out-dir", str(out)]) == 1
    err = capsys.readouterr().err
    assert "no space left on the disk of" in err
    assert f"the last checkpoint written is {out / 'checkpoint.pt'} (step 0)" in err
    assert torch.load(out / "checkpoint.pt", weights_only=True)["training"]["step"] == 0
    assert [run.info.status for run in runs_of(store)] == ["FAILED"]


@pytest.mark.parametrize("value", ["inf", "nan", "-inf"])
def test_non_finite_hyperparameters_are_refused(value, store, capsys):
    assert main([*TRAIN, "--tracking-uri", store, f"--lr={value}"]) == 2
    assert "lr must be finite" in capsys.readouterr().err and not runs_of(store)


def test_a_run_that_diverges_ends_with_an_error_and_its_last_finite_weights(tmp_path, store, capsys):
    out = tmp_path / "out"
    args = [*TRAIN, "--tracking-uri", store, "--out-dir", str(out), "--lr", "1e4", "--iterations", "60",
            "--restore-after-skips", "5", "--log-every", "1", "--eval-every", "60"]
    assert main(args) == 3
    assert "the training diverged" in capsys.readouterr().err
    assert [run.info.status for run in runs_of(store)] == ["FAILED"]
    model = load_model(out / "checkpoint.pt")  # refused if it held non-finite weights
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_config_errors_are_found_before_the_mlflow_run_starts(store, capsys):
    assert main([*TRAIN, "--tracking-uri", store, "--device", "cuda:7" if torch.cuda.is_available() else "cuda"]) == 2
    assert main([*TRAIN, "--tracking-uri", store, "--device", "foo"]) == 2
    assert "unknown device 'foo'" in capsys.readouterr().err and not runs_of(store)


def test_a_refused_resume_leaves_the_finished_run_alone(tmp_path, store):
    out = tmp_path / "out"
    assert main([*TRAIN, "--tracking-uri", store, "--out-dir", str(out)]) == 0
    assert main([*RESUME, str(out / "checkpoint.pt"), "--tracking-uri", store, "--lr", "inf"]) == 2
    assert main([*RESUME, str(out / "checkpoint.pt"), "--tracking-uri", store, "--k-start", "99"]) == 2
    assert [run.info.status for run in runs_of(store)] == ["FINISHED"]


def test_ctrl_c_during_the_final_figures_marks_the_run_killed(tmp_path, store, monkeypatch):
    def press_ctrl_c(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(artifacts, "write_artifacts", press_ctrl_c)
    assert main([*TRAIN, "--figures", "--tracking-uri", store, "--out-dir", str(tmp_path / "out")]) == 130
    assert [run.info.status for run in runs_of(store)] == ["KILLED"]


def test_after_a_resume_no_metric_step_holds_two_values(tmp_path, store):
    out = tmp_path / "out"
    checkpoint = out / "checkpoint.pt"
    assert main([*TRAIN, "--tracking-uri", store, "--out-dir", str(out), "--iterations", "4"]) == 0
    shutil.copy(checkpoint, tmp_path / "step4.pt")
    assert main([*RESUME, str(checkpoint), "--tracking-uri", store, "--iterations", "8"]) == 0
    shutil.copy(tmp_path / "step4.pt", checkpoint)  # as if killed after logging steps 6 and 8, before a checkpoint
    time.sleep(0.01)  # so that a second value would have another timestamp (and throughput)
    assert main([*RESUME, str(checkpoint), "--tracking-uri", store, "--iterations", "8"]) == 0
    client = MlflowClient(tracking_uri=store)
    (run,) = runs_of(store)
    for key in run.data.metrics:
        steps = [metric.step for metric in client.get_metric_history(run.info.run_id, key)]
        assert len(steps) == len(set(steps)), key
    assert run.info.status == "FINISHED"


def test_an_unusable_store_fails_fast_in_one_line(tmp_path, capsys):
    for uri in (f"sqlite:///{tmp_path / 'missing' / 'mlflow.db'}", f"sqlite:///{tmp_path}"):
        started = time.monotonic()
        assert main([*TRAIN, "--tracking-uri", uri, "--out-dir", str(tmp_path / f"out{len(uri)}")]) == 2
        err = capsys.readouterr().err
        assert time.monotonic() - started < 15 and err.count("\n") == 1 and "cannot use the MLflow store" in err


def test_the_mlflow_ui_opens_on_training_runs_described_with_their_dataset(tmp_path, store):
    assert main([*TRAIN, "--tracking-uri", store, "--out-dir", str(tmp_path / "out")]) == 0
    client = MlflowClient(tracking_uri=store)
    (run,) = runs_of(store)
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    description = run.data.tags["mlflow.note.content"]
    assert "sine problem" in description and "compvae-geo train" in description
    (dataset,) = run.inputs.dataset_inputs
    assert dataset.dataset.name == "sine generator" and "SineParts" in dataset.dataset.source
    assert [tag.value for tag in dataset.tags if tag.key == "mlflow.data.context"] == ["training"]


def test_an_existing_experiment_gets_the_tag_too(store):
    from compvae_geo.tracking import Tracker

    client = MlflowClient(tracking_uri=store)
    experiment_id = client.create_experiment("old")
    Tracker("old", store)
    assert client.get_experiment(experiment_id).tags["mlflow.experimentKind"] == "custom_model_development"


def test_checkpoint_files_get_the_usual_permissions(tmp_path, store):
    assert main([*TRAIN, "--tracking-uri", store, "--out-dir", str(tmp_path / "out")]) == 0
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "out" / "checkpoint.pt").stat().st_mode & 0o777 == 0o666 & ~umask


def test_an_empty_item_in_a_list_of_integers_is_an_error(capsys):
    with pytest.raises(SystemExit) as exit_code:
        main(["generate", "--checkpoint", "any.pt", "--parts", "1,,2"])
    assert exit_code.value.code == 2 and "an empty item" in capsys.readouterr().err


def test_help_imports_neither_torch_nor_mlflow():
    script = ("import sys\nfrom compvae_geo.cli import main\ntry:\n    main(['train', '--help'])\nexcept SystemExit:\n"
              "    pass\nprint(sorted(m for m in ('torch', 'torch_geometric', 'mlflow', 'numpy') if m in sys.modules))")
    output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert output.splitlines()[-1] == "[]"  # what makes it fast, without a timing that a slow machine would fail



def free_port():
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_tracking_server(root, timeout=120):
    """A real ``mlflow server`` on a free loopback port: its process and its URI."""
    import urllib.request

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{root / 'server.db'}",
         "--default-artifact-root", str(root / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    uri, deadline = f"http://127.0.0.1:{port}", time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{uri}/health", timeout=2):
                return process, uri
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                os.killpg(process.pid, 15)
                raise AssertionError("the tracking server did not start") from None
            time.sleep(0.2)


def flaky_proxy(backend):
    """A loopback HTTP proxy to ``backend``: until ``failing_until`` (a monotonic time) it answers 503."""
    import threading
    import urllib.error
    import urllib.request
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Forward(BaseHTTPRequestHandler):
        def forward(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) or None
            if time.monotonic() < self.server.failing_until:
                self.send_response(503)
                self.end_headers()
                return
            request = urllib.request.Request(backend + self.path, data=body, method=self.command,
                                             headers={"Content-Type": self.headers.get("Content-Type", "")})
            try:
                with urllib.request.urlopen(request, timeout=60) as answer:
                    status, payload, kind = answer.status, answer.read(), answer.headers.get("Content-Type")
            except urllib.error.HTTPError as error:
                status, payload, kind = error.code, error.read(), error.headers.get("Content-Type")
            self.send_response(status)
            self.send_header("Content-Type", kind or "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PATCH = do_DELETE = forward

        def log_message(self, *args):
            pass

    proxy = ThreadingHTTPServer(("127.0.0.1", 0), Forward)
    proxy.failing_until = 0.0
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    return proxy, f"http://127.0.0.1:{proxy.server_address[1]}"


def test_a_tracking_server_failing_for_a_few_seconds_mid_run_stops_neither_training_nor_tracking(tmp_path, capsys):
    import threading

    server, backend = start_tracking_server(tmp_path)
    proxy, uri = flaky_proxy(backend)
    try:
        out = tmp_path / "out"

        def outage():  # once the run has written its first checkpoint, the server answers 503 for 3 seconds
            deadline = time.monotonic() + 60
            while not (out / "checkpoint.pt").exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            proxy.failing_until = time.monotonic() + 3

        failing = threading.Thread(target=outage)
        failing.start()
        assert main([*TRAIN, "--iterations", "30", "--log-every", "1", "--checkpoint-minutes", "1e-9",
                     "--tracking-uri", uri, "--out-dir", str(out)]) == 0
        failing.join()
        assert proxy.failing_until > 0 and "MLflow tracking stopped" not in capsys.readouterr().out
        client = MlflowClient(tracking_uri=backend)
        (run,) = client.search_runs([client.get_experiment_by_name("sine").experiment_id])
        steps = [metric.step for metric in client.get_metric_history(run.info.run_id, "loss/elbo_bits")]
        assert run.info.status == "FINISHED" and steps == list(range(1, 31))  # every step, across the outage
    finally:
        proxy.shutdown()
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
