"""The code MLflow logs as the model ("models from code"): it names the model class."""
from mlflow.models import set_model

from compvae_geo.serving.pyfunc_model import CompVAEPyfunc

set_model(CompVAEPyfunc())
