"""CompVAE read as a structural model: every latent its parameters plus a scaled standard-normal noise.

Functions over a trained :class:`~compvae_geo.CompVAE`: :func:`recompose` (what-if wholes of an observation, by
abduction of its noises) and :func:`generate_tail` (the wholes whose statistic exceeds a quantile, by subset
simulation in the noise of ``wholes_from_noise``, :mod:`.subset_simulation`).
"""
from compvae_geo._lazy import lazy_attributes

_WHERE = {"recompose": ".counterfactual", "generate_tail": ".tail", "STATISTICS": ".tail", "TailSample": ".tail",
          "statistic_function": ".tail", "TailSettings": ".subset_simulation", "sample_tail": ".subset_simulation"}
__all__ = sorted(_WHERE)
__getattr__ = lazy_attributes(__name__, _WHERE)
