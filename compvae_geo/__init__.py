"""compvae_geo: the Compositional Variational Auto-Encoder (Berger & Sebag) on PyTorch Geometric."""
from ._lazy import lazy_attributes

__all__ = ["CompVAE", "CompVAEConfig", "LatentNoise", "LossTerms", "Posterior", "load_model"]
__version__ = "0.2.0"
__getattr__ = lazy_attributes(__name__, {name: ".models" for name in __all__})
