"""A trained model as an MLflow Model: logged, registered, loaded with ``mlflow.pyfunc`` and served."""
from compvae_geo._lazy import lazy_attributes

_WHERE = {"log_model": ".logged_model", "CompVAEPyfunc": ".pyfunc_model", "read_requests": ".requests",
          "GenerationSettings": ".generation", "draw_wholes": ".generation"}
__all__ = sorted(_WHERE)
__getattr__ = lazy_attributes(__name__, _WHERE)
