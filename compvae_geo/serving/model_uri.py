"""A checkpoint named by an MLflow URI (``models:/NAME/VERSION``, ``runs:/RUN_ID[/PATH]``), fetched as a local file."""
from __future__ import annotations

from pathlib import Path

from ..tracking import resolve_tracking_uri
from .logged_model import using_tracking_uri
from .pyfunc_model import CHECKPOINT_ARTIFACT

RUN_CHECKPOINT = "checkpoint.pt"  # the artifact a training run logs its checkpoint as


def local_checkpoint(uri: str, tracking_uri: str | None = None) -> Path:
    """The checkpoint of an MLflow Model (``models:/feeders/1``, ``models:/m-...``) or a run's artifact, downloaded.

    ``runs:/RUN_ID`` is the checkpoint the training run logged; ``runs:/RUN_ID/PATH`` any ``.pt`` artifact of the
    run. ``ValueError`` naming the URI when MLflow cannot give it (no such model, version or run, no checkpoint).
    """
    import mlflow.artifacts
    from mlflow.exceptions import MlflowException
    from mlflow.models import Model

    store = resolve_tracking_uri(tracking_uri)
    try:
        with using_tracking_uri(store):  # the registry of a models:/ URI is the tracking store's
            if uri.startswith("runs:/"):
                run_path = uri.removeprefix("runs:/").strip("/")
                artifact = uri if "/" in run_path else f"{uri.rstrip('/')}/{RUN_CHECKPOINT}"
                return Path(mlflow.artifacts.download_artifacts(artifact_uri=artifact))
            model_dir = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri))
    except (MlflowException, OSError) as error:
        raise ValueError(f"cannot fetch {uri} from {store}: {str(error).splitlines()[0]}") from None
    artifacts = Model.load(model_dir).flavors.get("python_function", {}).get("artifacts", {})
    if CHECKPOINT_ARTIFACT not in artifacts:
        raise ValueError(f"{uri} is not a compvae-geo model: it holds no '{CHECKPOINT_ARTIFACT}' artifact")
    return model_dir / artifacts[CHECKPOINT_ARTIFACT]["path"]
