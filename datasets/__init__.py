"""Synthetic parts-to-whole problems with a known generator."""
from .batching import batch_from_tensors
from .edit import Edit, check_edit
from .household_parts import ARCHETYPES, DAY_TYPES, HouseholdParts
from .observation import Observation
from .parts_problem import PartsProblem
from .sine_parts import SineParts
from .site_parts import SITE_COLORS, SiteParts

__all__ = ["ARCHETYPES", "DAY_TYPES", "Edit", "HouseholdParts", "Observation", "PartsProblem", "SITE_COLORS",
           "SineParts", "SiteParts", "batch_from_tensors", "check_edit"]
