"""MLflow tracking that fails fast at start and never stops training once it has started."""
from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param, RunStatus
from mlflow.tracking import MlflowClient

logger = logging.getLogger(__name__)

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"  # MLflow's default local store, in the working directory
HTTP_PROBE_RETRIES = "0"  # MLflow's default retry policy takes minutes to give up on a dead server
HTTP_TIMEOUT_SECONDS = "10"
SQLITE_PREFIX = "sqlite:///"
MAX_PARAMS_PER_BATCH = 100  # MLflow's limit for one log_batch call
MAX_METRICS_PER_BATCH = 1000


class TrackingUnavailable(RuntimeError):
    """The tracking server could not be reached when the run started."""


def resolve_tracking_uri(uri: str | None = None) -> str:
    """The MLflow store to use.

    ``uri``, else ``$MLFLOW_TRACKING_URI``, else ``sqlite:///mlflow.db`` (set explicitly so
    that a stale ``./mlruns`` folder is never picked up).
    """
    return uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


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
                 run_name: str | None = None) -> None:
        self.tracking_uri = resolve_tracking_uri(tracking_uri)
        if self.tracking_uri.startswith(("http://", "https://")):
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", HTTP_PROBE_RETRIES)
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", HTTP_TIMEOUT_SECONDS)
        self.client = MlflowClient(tracking_uri=self.tracking_uri)
        self.failure: str | None = None
        try:
            found = self.client.get_experiment_by_name(experiment)
            experiment_id = found.experiment_id if found else self.client.create_experiment(
                experiment, artifact_location=default_artifact_location(self.tracking_uri))
            if run_id is None:
                run_id = self.client.create_run(experiment_id, run_name=run_name).info.run_id
            else:
                self.client.get_run(run_id)
                self.client.update_run(run_id, status=RunStatus.to_string(RunStatus.RUNNING))
        except Exception as error:  # any failure here means: no tracking for this run
            raise TrackingUnavailable(
                f"cannot use the MLflow tracking store at {self.tracking_uri!r}: {error}. "
                f"Start the server, or choose another store with --tracking-uri (default {DEFAULT_TRACKING_URI})."
            ) from error
        self.experiment_id = experiment_id
        self.run_id = run_id

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
        items = [Param(key, str(value)) for key, value in params.items()]
        for start in range(0, len(items), MAX_PARAMS_PER_BATCH):
            self._call("log_params", self.client.log_batch, self.run_id,
                       params=items[start:start + MAX_PARAMS_PER_BATCH])

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        """All ``metrics`` of one step in a single request."""
        timestamp = int(time.time() * 1000)
        items = [Metric(key, float(value), timestamp, step) for key, value in metrics.items()]
        for start in range(0, len(items), MAX_METRICS_PER_BATCH):
            self._call("log_metrics", self.client.log_batch, self.run_id,
                       metrics=items[start:start + MAX_METRICS_PER_BATCH])

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        """Uploads the file ``path`` to the run's artifacts (under ``artifact_path``)."""
        self._call("log_artifact", self.client.log_artifact, self.run_id, str(path), artifact_path)

    def end(self, status: str = "FINISHED") -> None:
        """Ends the run with ``status`` (FINISHED, FAILED or KILLED)."""
        self._call("end", self.client.set_terminated, self.run_id, status)
