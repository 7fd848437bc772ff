"""MLflow tracking that fails fast at start and never stops training once it has started."""
from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"  # MLflow's default local store, in the working directory
HTTP_PROBE_RETRIES = "0"  # MLflow's default retry policy takes minutes to give up on a dead server
HTTP_TIMEOUT_SECONDS = "10"
SQLITE_PREFIX = "sqlite:///"
MODEL_URI_SCHEMES = ("models:/", "runs:/")  # MLflow URIs a --checkpoint may be instead of a file path
MAX_PARAMS_PER_BATCH = 100  # MLflow's limit for one log_batch call
MAX_METRICS_PER_BATCH = 1000


# MLflow 3 opens an experiment without this tag on its GenAI overview; with it, on the training runs
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"
DESCRIPTION_TAG = "mlflow.note.content"  # the run's description in the MLflow UI
STORE_LOCK_TIMEOUT_S = 60  # how long a process waits for another one that sets up the same SQLite store
PARENT_TAG = "mlflow.parentRunId"  # an evaluation's run nests under its training run in the MLflow UI
GIT_TIMEOUT_SECONDS = 5
SYSTEM_METRICS_SECONDS = 10  # between samples of CPU, memory and GPU use


@contextlib.contextmanager
def _store_lock(database: Path | None) -> Iterator[None]:
    """Holds a file lock beside a SQLite store while its schema and experiments are set up (no-op for others)."""
    if database is None:
        yield
        return
    from filelock import FileLock, Timeout

    try:
        with FileLock(f"{database}.lock", timeout=STORE_LOCK_TIMEOUT_S):
            yield
    except Timeout:
        raise TrackingUnavailable(f"another process held the lock of the MLflow store {database} for "
                                  f"{STORE_LOCK_TIMEOUT_S} s") from None


class TrackingUnavailable(RuntimeError):
    """The tracking server could not be reached when the run started."""


def resolve_tracking_uri(uri: str | None = None) -> str:
    """The MLflow store to use.

    ``uri``, else ``$MLFLOW_TRACKING_URI``, else ``sqlite:///mlflow.db`` (set explicitly so
    that a stale ``./mlruns`` folder is never picked up).
    """
    return uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def sqlite_database(tracking_uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` store (None for other stores)."""
    return Path(tracking_uri[len(SQLITE_PREFIX):]) if tracking_uri.startswith(SQLITE_PREFIX) else None


def check_sqlite_store(database: Path) -> None:
    """Raises :class:`TrackingUnavailable` at once where SQLite could not write ``database``.

    SQLite writes the file and journal files beside it, so both must be writable; MLflow itself would
    retry for minutes before failing with a traceback.
    """
    directory = database.parent if str(database.parent) else Path(".")
    problem = None
    if not directory.is_dir():
        problem = f"its directory {directory} does not exist"
    elif not os.access(directory, os.W_OK | os.X_OK):
        problem = f"its directory {directory} is not writable"
    elif database.exists() and not database.is_file():
        problem = f"{database} is not a file"
    elif database.exists() and not os.access(database, os.R_OK | os.W_OK):
        problem = f"{database} is not writable"
    if problem:
        raise TrackingUnavailable(f"cannot use the MLflow store sqlite:///{database}: {problem}. "
                                  "Choose another store with --tracking-uri.")


def default_artifact_location(tracking_uri: str) -> str | None:
    """Where the artifacts of a new experiment go.

    For a SQLite store, artifacts go in ``mlruns/`` beside the database file (not in
    whatever directory the run happens to start from); other stores choose for themselves.
    """
    if not tracking_uri.startswith(SQLITE_PREFIX):
        return None
    database = Path(tracking_uri[len(SQLITE_PREFIX):]).resolve()
    return (database.parent / "mlruns").as_uri()


class Tracker:
    """One MLflow run: parameters, batched metrics, artifacts.

    Construction checks the store and raises :class:`TrackingUnavailable` at once if it cannot
    be reached. After that, a failing call is logged once as a warning, tracking is switched off
    and training goes on (checkpoints stay on the local disk).
    """

    def __init__(self, experiment: str, tracking_uri: str | None = None, run_id: str | None = None,
                 run_name: str | None = None, description: str | None = None, parent_run_id: str | None = None,
                 system_metrics: bool = False) -> None:
        from mlflow.entities import RunStatus
        from mlflow.tracking import MlflowClient  # here, not at import: MLflow takes a second to import

        self.tracking_uri = resolve_tracking_uri(tracking_uri)
        database = sqlite_database(self.tracking_uri)
        if database is not None:
            check_sqlite_store(database)
        self.failure: str | None = None
        self.logged_until = -1  # metrics of steps up to this one are not logged (a resumed training sets it)
        # what every metric is linked to besides the run (an evaluation: its model's id, the dataset it was measured on)
        self.metric_links: dict[str, str | None] = {}
        try:
            with _probe_settings(self.tracking_uri), _store_lock(database):  # one process at a time sets up a store
                self.client = MlflowClient(tracking_uri=self.tracking_uri)
                if run_id is not None:  # go on with a run: in its own experiment, which exists
                    experiment_id = self.client.get_run(run_id).info.experiment_id
                    self.client.update_run(run_id, status=RunStatus.to_string(RunStatus.RUNNING))
                else:
                    experiment_id = (self.client.get_run(parent_run_id).info.experiment_id if parent_run_id
                                     else self._experiment_id(experiment))
                    tags = {**source_tags(), **({DESCRIPTION_TAG: description} if description else {}),
                            **({PARENT_TAG: parent_run_id} if parent_run_id else {})}
                    run_id = self.client.create_run(experiment_id, run_name=run_name, tags=tags).info.run_id
                self.experiment_name = self.client.get_experiment(experiment_id).name  # a reopened run's own
        except Exception as error:  # any failure here means: no tracking for this run
            raise TrackingUnavailable(
                f"cannot use the MLflow tracking store at {self.tracking_uri!r}: {str(error).splitlines()[0]}. "
                f"Start the server, or choose another store with --tracking-uri (default {DEFAULT_TRACKING_URI})."
            ) from error
        self.experiment_id = experiment_id
        self.run_id = run_id
        self.monitor = _system_metrics(run_id, self.tracking_uri) if system_metrics else None

    def _experiment_id(self, name: str) -> str:
        """The id of experiment ``name``, created if new; tagged so that ``mlflow ui`` opens on its training runs."""
        found = self.client.get_experiment_by_name(name)
        if found is None:
            return self.client.create_experiment(name, artifact_location=default_artifact_location(self.tracking_uri),
                                                 tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND})
        if found.tags.get(EXPERIMENT_KIND_TAG) != EXPERIMENT_KIND:
            self.client.set_experiment_tag(found.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
        return found.experiment_id

    def last_logged_step(self) -> int:
        """The last step with a metric in this run (-1 for none)."""
        keys = self.client.get_run(self.run_id).data.metrics
        return max((metric.step for key in keys for metric in self.client.get_metric_history(self.run_id, key)),
                   default=-1)

    @property
    def available(self) -> bool:
        """Whether tracking still works (it stops at the first failed call)."""
        return self.failure is None

    def _call(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        if not self.available:
            return
        try:
            fn(*args, **kwargs)
        except Exception as error:
            self.failure = f"{what} failed: {error}"
            logger.warning("MLflow tracking stopped (%s); training goes on and checkpoints stay local.", self.failure)

    def log_params(self, params: dict[str, Any]) -> None:
        """Logs ``params`` in batches of at most MLflow's limit."""
        from mlflow.entities import Param

        items = [Param(key, str(value)) for key, value in params.items()]
        for start in range(0, len(items), MAX_PARAMS_PER_BATCH):
            self._call("log_params", self.client.log_batch, self.run_id,
                       params=items[start:start + MAX_PARAMS_PER_BATCH])

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        """All ``metrics`` of one step in a single request.

        Steps up to ``logged_until`` are skipped: a resumed training sets it to the last step its run
        holds (logged after its checkpoint, before it stopped), so that no step of a metric holds two values.
        """
        if step <= self.logged_until:
            return
        from mlflow.entities import Metric

        timestamp = int(time.time() * 1000)
        items = [Metric(key, float(value), timestamp, step, **self.metric_links) for key, value in metrics.items()]
        for start in range(0, len(items), MAX_METRICS_PER_BATCH):
            self._call("log_metrics", self.client.log_batch, self.run_id,
                       metrics=items[start:start + MAX_METRICS_PER_BATCH])

    def log_dataset(self, name: str, tags: dict[str, str], digest: str | None = None,
                    columns: dict[str, str] | None = None, profile: dict[str, int] | None = None,
                    context: str = "training") -> tuple[str, str]:
        """Records what the run trains on (``context="evaluation"``: is measured on) as an MLflow dataset input.

        A generator (``tags`` describe it), or files: their ``digest``, the ``columns`` of the wholes table (name ->
        MLflow type, the schema) and the row counts of ``profile``. Returns the dataset's name and digest (what a
        metric names to be linked to it).
        """
        from mlflow.data.code_dataset_source import CodeDatasetSource
        from mlflow.data.meta_dataset import MetaDataset
        from mlflow.entities import DatasetInput, InputTag
        from mlflow.types import ColSpec, Schema

        class ProfiledDataset(MetaDataset):
            def to_dict(self) -> dict[str, str]:
                return {**super().to_dict(), **({"profile": json.dumps(profile)} if profile else {})}

        schema = None if columns is None else Schema([ColSpec(kind, column) for column, kind in columns.items()])
        dataset = ProfiledDataset(CodeDatasetSource(tags), name=name, digest=digest, schema=schema)._to_mlflow_entity()
        self._call("log_inputs", self.client.log_inputs, self.run_id,
                   [DatasetInput(dataset, [InputTag("mlflow.data.context", context)])])
        return dataset.name, dataset.digest

    def logged_model_of(self, run_id: str) -> str | None:
        """The id of the newest MLflow Model logged by run ``run_id`` (MLflow 3 ``LoggedModel``), None for none."""
        try:
            run = self.client.get_run(run_id)
            newest_first = [{"field_name": "creation_timestamp", "ascending": False}]
            models = self.client.search_logged_models([run.info.experiment_id], f"source_run_id = '{run_id}'",
                                                      order_by=newest_first)
        except Exception as error:  # noqa: BLE001  (a store without logged models: the metrics stay the run's)
            logger.warning("could not look up the MLflow Model of run %s: %s", run_id, error)
            return None
        return models[0].model_id if models else None

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        """Uploads the file ``path`` to the run's artifacts (under ``artifact_path``)."""
        self._call("log_artifact", self.client.log_artifact, self.run_id, str(path), artifact_path)

    def end(self, status: str = "FINISHED") -> None:
        """Ends the run with ``status`` (FINISHED, FAILED or KILLED), and its system metrics."""
        if self.monitor is not None:
            self._call("system metrics", self.monitor.finish)
            self.monitor = None
        self._call("end", self.client.set_terminated, self.run_id, status)


@contextlib.contextmanager
def _probe_settings(tracking_uri: str) -> Iterator[None]:
    """MLflow's HTTP retries off and a short timeout while a tracking server is first reached, then restored.

    The start fails at once on a dead server, and later calls keep MLflow's retries, which ride out a server that
    fails for a few seconds mid-run.
    """
    if not tracking_uri.startswith(("http://", "https://")):
        yield
        return
    probe = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": HTTP_PROBE_RETRIES, "MLFLOW_HTTP_REQUEST_TIMEOUT": HTTP_TIMEOUT_SECONDS}
    with environment_restored(*probe):
        os.environ.update({name: value for name, value in probe.items() if name not in os.environ})
        yield


@contextlib.contextmanager
def environment_restored(*names: str) -> Iterator[None]:
    """The environment variables ``names`` as they were before the block, whatever it set or removed."""
    before = {name: os.environ.get(name) for name in names}
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def source_tags() -> dict[str, str]:
    """The tags MLflow's fluent API gives a run, for runs made with the client: the user, the command, the commit."""
    import getpass
    import subprocess
    import sys

    # the program and its command (``compvae-geo train``): the UI shows the source's last path component, so a whole
    # command line with paths in it would show as its tail; the command itself is in the run's description
    tags = {"mlflow.source.type": "LOCAL", "mlflow.source.name": " ".join([Path(sys.argv[0]).name, *sys.argv[1:2]])}
    with contextlib.suppress(Exception):
        tags["mlflow.user"] = getpass.getuser()
    with contextlib.suppress(Exception):  # the commit of this package's checkout, where it is one
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                                text=True, timeout=GIT_TIMEOUT_SECONDS, check=True).stdout.strip()
        tags["mlflow.source.git.commit"] = commit
    return tags


def _system_metrics(run_id: str, tracking_uri: str) -> Any:
    """MLflow's monitor of CPU, memory, disk, network (and GPU where there is one) into ``run_id``, started.

    None where ``MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING`` is set false; ``MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL``
    sets the seconds between samples (default ``SYSTEM_METRICS_SECONDS``).
    """
    from mlflow.environment_variables import (
        MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING,
        MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL,
    )
    from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

    if MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING.defined and not MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING.get():
        return None
    interval = MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL.get() or SYSTEM_METRICS_SECONDS
    monitor = SystemMetricsMonitor(run_id, sampling_interval=interval, tracking_uri=tracking_uri)
    monitor.start()
    return monitor
