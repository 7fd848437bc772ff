"""The models and the registry that builds them by name.

The models: CompVAE and the modules it is composed of (its part prior, its z priors, its observation model), the
count-vector CVAE baseline, their shared loss terms and savable base, and the registry the trainer and the command
line build them from by name.
"""
from compvae_geo._lazy import lazy_attributes

_WHERE = {"CompVAE": ".compvae", "LatentNoise": ".compvae", "Posterior": ".compvae", "CompVAEConfig": ".config",
          "CountCVAE": ".count_cvae", "BITS_PER_NAT": ".loss_terms", "LossTerms": ".loss_terms",
          "PartPrior": ".part_prior", "SavableModel": ".savable", "MODELS": ".registry", "build_model": ".registry",
          "load_model": ".registry", "model_from_payload": ".registry", "GenerationNoise": ".latents",
          "GaussianObservation": ".gaussian_observation", "MultisetZPrior": ".z_prior", "WholeSumZPrior": ".z_prior"}
__all__ = sorted(_WHERE)
__getattr__ = lazy_attributes(__name__, _WHERE)  # the networks import torch and PyG: only when first used
