"""compvae_geo: the Compositional Variational Auto-Encoder on PyTorch Geometric."""
from .config import CompVAEConfig
from .model import CompVAE, LatentNoise, LossTerms, Posterior

__all__ = ["CompVAE", "CompVAEConfig", "LatentNoise", "LossTerms", "Posterior"]
__version__ = "0.1.0"
