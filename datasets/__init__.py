"""Parts-to-whole problems with a known generator, and datasets of wholes read from files."""
from .batching import batch_from_tensors
from .edit import Edit, check_edit
from .encoding import DataEncoding
from .household_parts import ARCHETYPES, DAY_TYPES, HouseholdParts
from .observation import Observation
from .parts_problem import PartsProblem
from .sine_parts import SineParts
from .site_parts import SITE_COLORS, SiteParts
from .tables import DataFileError, read_tables
from .wholes_dataset import WholesDataset

__all__ = ["ARCHETYPES", "DAY_TYPES", "DataEncoding", "DataFileError", "Edit", "HouseholdParts", "Observation",
           "PartsProblem", "SITE_COLORS", "SineParts", "SiteParts", "WholesDataset", "batch_from_tensors", "check_edit",
           "read_tables"]
