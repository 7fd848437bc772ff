"""Measuring models against the true generator.

Two-sample metrics, the per-K evaluation, the paper's figures and the generated results documents.
"""
from compvae_geo._lazy import lazy_attributes

_WHERE = {"NAIVE": ".config", "TRUE": ".config", "EvalConfig": ".config", "KEvaluation": ".per_k",
          "evaluate": ".per_k", "heldout_elbo_bits": "..training.heldout", "sample_distances": ".per_k"}
__all__ = sorted(_WHERE)
__getattr__ = lazy_attributes(__name__, _WHERE)  # the evaluation imports torch: only when first used
