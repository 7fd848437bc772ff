"""Synthetic parts-to-whole problems with a known generator."""
from .batching import batch_from_tensors
from .parts_problem import PartsProblem
from .sine_parts import SineParts

__all__ = ["PartsProblem", "SineParts", "batch_from_tensors"]
