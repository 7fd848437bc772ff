"""compvae_geo: the Compositional Variational Auto-Encoder (Berger & Sebag) on PyTorch Geometric."""
from ._lazy import lazy_attributes

_WHERE = {**{name: ".models" for name in ("CompVAE", "CompVAEConfig", "LatentNoise", "LossTerms", "Posterior",
                                           "load_model")},
          "recompose": ".structural", "generate_tail": ".structural"}
__all__ = sorted(_WHERE)
__version__ = "0.2.0"
__getattr__ = lazy_attributes(__name__, _WHERE)
