"""The trained model as an MLflow ``pyfunc`` model: a table of parts in, a long table of generated wholes out.

Logged "from code" (:mod:`compvae_geo.serving.model_code` names this class); the checkpoint travels as the model's
artifact and is read with ``weights_only=True``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlflow.pyfunc import PythonModel

from ..checkpoint import read_model_payload
from ..models import model_from_payload
from ..problems import model_terms
from .generation import GenerationSettings, draw_wholes, measured_with_noise
from .requests import long_table, read_requests

if TYPE_CHECKING:
    import pandas as pd
    from mlflow.pyfunc import PythonModelContext

CHECKPOINT_ARTIFACT = "checkpoint"  # the artifact key of the checkpoint file


class CompVAEPyfunc(PythonModel):
    """Generates wholes for a table of parts (:mod:`compvae_geo.serving.requests`), in the data's units.

    Params: ``num_samples``, ``seed``, ``observation_noise`` (default: what the evaluation measures),
    ``tail_quantile`` with ``tail_statistic`` (peak days only). Bad input raises an ``MlflowException`` of
    ``INVALID_PARAMETER_VALUE`` (a 400 answer from ``mlflow models serve``) naming the column or parameter.
    """

    def load_context(self, context: PythonModelContext) -> None:
        """Reads the checkpoint artifact."""
        self.use_payload(read_model_payload(context.artifacts[CHECKPOINT_ARTIFACT]))

    def use_payload(self, payload: dict[str, Any]) -> None:
        """The model, its terms (labels, conditions, units) and its default noise from a checkpoint's payload."""
        self.model = model_from_payload(payload).eval()
        self.terms = model_terms(payload)
        self.observation_noise = measured_with_noise(payload)

    def predict(self, context: PythonModelContext | None, model_input: pd.DataFrame,
                params: dict[str, Any] | None = None) -> pd.DataFrame:
        """The wholes of every request as one long table: ``whole_id``, ``sample``, ``step``, ``value``."""
        import pandas as pd
        from mlflow.exceptions import MlflowException
        from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

        try:
            settings = GenerationSettings.of(params or {}, self.model, self.observation_noise)
            requests = read_requests(model_input, self.terms)
        except ValueError as error:
            raise MlflowException(str(error), error_code=INVALID_PARAMETER_VALUE) from None
        return pd.concat([long_table(request.whole_id, draw_wholes(self.model, request, settings).wholes)
                          for request in requests], ignore_index=True)
