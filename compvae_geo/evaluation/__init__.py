"""Measuring models against the true generator.

Two-sample metrics, the per-K evaluation, the paper's figures and the generated results documents.
"""
from .config import NAIVE, TRUE, EvalConfig
from .evaluate import KEvaluation, evaluate, heldout_elbo_bits, sample_distances

__all__ = ["NAIVE", "TRUE", "EvalConfig", "KEvaluation", "evaluate", "heldout_elbo_bits", "sample_distances"]
