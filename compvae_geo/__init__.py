"""compvae_geo: the Compositional Variational Auto-Encoder (Berger & Sebag) on PyTorch Geometric."""
from .models import CompVAE, CompVAEConfig, LatentNoise, LossTerms, Posterior, load_model

__all__ = ["CompVAE", "CompVAEConfig", "LatentNoise", "LossTerms", "Posterior", "load_model"]
__version__ = "0.2.0"
