"""A checkpoint logged as an MLflow Model (``pyfunc``, from code), optionally registered, linked to its run."""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import asdict
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ..checkpoint import read_model_payload
from ..problems import make_problem, model_problem
from ..tracking import environment_restored, resolve_tracking_uri
from .generation import GenerationSettings
from .pyfunc_model import CHECKPOINT_ARTIFACT, CompVAEPyfunc

if TYPE_CHECKING:
    import pandas as pd
    from mlflow.models import ModelSignature
    from mlflow.models.model import ModelInfo

    from compvae_geo.datasets import DataEncoding

TRACKING_URI_VARIABLE = "MLFLOW_TRACKING_URI"  # which MLflow's set_tracking_uri also sets
EXPERIMENT_ID_VARIABLE = "MLFLOW_EXPERIMENT_ID"  # what MLflow's fluent API reads as the current experiment
MODEL_NAME = "model"  # the logged model's name within its run
MODEL_CODE = Path(__file__).with_name("model_code.py")
REQUIREMENTS = ("torch", "torch-geometric", "numpy", "pandas", "mlflow", "compvae_geo")  # pinned to what is installed
EXAMPLE_SAMPLES = 2  # wholes per request of the output example


def log_model(checkpoint: str | Path, tracking_uri: str | None = None, run_id: str | None = None,
              registered_name: str | None = None) -> ModelInfo:
    """Logs ``checkpoint`` as an MLflow Model in run ``run_id`` (default: its training run, if any).

    With a signature (a parts table in, a long table of wholes out, the generation params), an input example and
    pinned requirements; registered as ``registered_name`` (a new version) when given. Returns MLflow's
    ``ModelInfo`` (``model_uri``, ``model_id``, ``registered_model_version``).
    """
    import mlflow
    import mlflow.pyfunc
    from mlflow.models import Model

    payload = read_model_payload(checkpoint)
    run_id = run_id or payload.get("training", {}).get("run_id")
    pyfunc = CompVAEPyfunc()
    pyfunc.use_payload(payload)
    example = input_example(pyfunc.terms, payload)
    params = asdict(GenerationSettings(observation_noise=pyfunc.observation_noise))  # the defaults a caller gets
    uri = resolve_tracking_uri(tracking_uri)
    experiment_id = None if run_id is None else mlflow.MlflowClient(uri).get_run(run_id).info.experiment_id
    with using_tracking_uri(uri, experiment_id):
        return Model.log(
            artifact_path=None, name=MODEL_NAME, flavor=mlflow.pyfunc, run_id=run_id,
            registered_model_name=registered_name, python_model=str(MODEL_CODE),
            artifacts={CHECKPOINT_ARTIFACT: str(checkpoint)}, signature=signature(pyfunc.terms, params),
            input_example=(example, {"num_samples": EXAMPLE_SAMPLES}), pip_requirements=pinned_requirements(),
            metadata=_metadata(pyfunc.terms))


def signature(terms: DataEncoding, params: dict[str, Any]) -> ModelSignature:
    """The model's signature: a parts table in, the long table of wholes out, the generation ``params``.

    Every input column but ``whole_id`` is optional (a whole without parts leaves them empty); the params keep their
    defaults.
    """
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

    inputs = [ColSpec("string", "whole_id"), ColSpec("string", "category", required=False),
              *(ColSpec("double", name, required=False) for name in terms.descriptor_columns),
              *(ColSpec("string" if c.kind == "categorical" else "double", c.name, required=False)
                for c in terms.conditions)]
    outputs = [ColSpec("string", "whole_id"), ColSpec("long", "sample"), ColSpec("long", "step"),
               ColSpec("double", "value")]
    kinds = {bool: "boolean", int: "long", float: "double", str: "string"}
    return ModelSignature(Schema(inputs), Schema(outputs),
                          ParamSchema([ParamSpec(name, kinds[type(value)], value) for name, value in params.items()]))


def input_example(terms: DataEncoding, payload: dict[str, Any]) -> pd.DataFrame:
    """Two wholes: two parts (the first and last category) under the first known conditions, and an empty one."""
    import pandas as pd

    labels = [terms.vocabulary[0], terms.vocabulary[-1]]
    problem = model_problem(payload)
    if problem is not None and terms.descriptor_columns:  # a simulator's own descriptors of these parts
        descriptors = make_problem(problem).sample_part_attr(terms.part_ids(labels), torch.Generator().manual_seed(0))
    else:
        descriptors = torch.tensor([terms.descriptor_mean] * len(labels))
    rows: dict[str, list[Any]] = {"whole_id": ["a", "a", "b"], "category": [*labels, None]}
    rows.update({name: [*descriptors[:, j].tolist(), None] for j, name in enumerate(terms.descriptor_columns)})
    if terms.conditions:
        known = terms.decode_conditions(torch.zeros(1, terms.whole_attr_dim))
        rows.update({name: cells * 3 for name, cells in known.items()})
    return pd.DataFrame(rows)


def pinned_requirements() -> list[str]:
    """The model's requirements at the installed versions (``compvae_geo`` itself: install the repository)."""
    pins = []
    for name in REQUIREMENTS:
        with contextlib.suppress(PackageNotFoundError):
            pins.append(f"{name}=={version(name)}")
    return pins


def _metadata(terms: DataEncoding) -> dict[str, Any]:
    """What a reader of the MLmodel file needs: the categories, the conditions, the units."""
    return {"categories": terms.vocabulary, "descriptors": terms.descriptor_columns,
            "conditions": {c.name: c.categories if c.kind == "categorical" else "numeric" for c in terms.conditions},
            "unit": terms.unit, "step_hours": terms.step_hours, "values_per_whole": len(terms.value_columns)}


@contextlib.contextmanager
def using_tracking_uri(uri: str, experiment_id: str | None = None) -> Iterator[None]:
    """MLflow's global tracking URI (and experiment) set for a while (``Model.log`` reads them), then restored.

    The experiment is that of the run the model is logged in, so that the model is listed beside the run in the
    experiment's Models tab (``Model.log`` puts it in the current experiment).
    """
    import mlflow

    uri_before = os.environ.get(TRACKING_URI_VARIABLE)
    with environment_restored(TRACKING_URI_VARIABLE, EXPERIMENT_ID_VARIABLE):
        mlflow.set_tracking_uri(uri)  # (which also sets $MLFLOW_TRACKING_URI)
        if experiment_id is not None:
            os.environ[EXPERIMENT_ID_VARIABLE] = experiment_id
        try:
            yield
        finally:
            mlflow.set_tracking_uri(uri_before or "")
