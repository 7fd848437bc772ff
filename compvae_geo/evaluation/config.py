"""What an evaluation measures.

What an evaluation measures, shared by :func:`~compvae_geo.evaluation.per_k.evaluate` and
``compvae-geo evaluate`` (whose flags are generated from :class:`EvalConfig`).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..plain_config import PlainDataConfig

TRUE = "true"  # a second, independent true sample: the noise floor of every distance
NAIVE = "naive"  # the Monte-Carlo simulator: each part through the non-linearity alone, summed
FROM_SCRATCH = "from_scratch"  # what-if baseline: the model generating the edited multiset, given the conditions only
DIRECT_EDIT = "direct_edit"  # what-if baseline: the observed whole edited without a model (problems that define it)
# what-if baseline: the observed whole edited with the field's standard profiles (households: BDEW H25, demandlib)
STANDARD_PROFILE = "standard_profile"
PEAK_QUANTILES = (0.5, 0.9, 0.99)  # of the daily peak, in the planner statistics
PEAK_ERROR_KEYS = tuple(f"peak_p{round(100 * q)}" for q in PEAK_QUANTILES)  # their errors against the truth


def largest_peak_error(errors: dict[str, float]) -> float:
    """The largest error of the daily-peak quantiles among a source's planner errors."""
    return max(errors[key] for key in PEAK_ERROR_KEYS)


@dataclass
class EvalConfig(PlainDataConfig):
    """The settings of one evaluation; written into every ``evaluation.json``."""

    part_counts: tuple[int, ...] = ()  # K to evaluate (empty: the problem's, evaluation.profiles)
    num_samples: int = 256  # wholes per multiset and source
    multisets_per_k: int = 4  # random multisets per K
    permutations: int = 200  # permutations for the MMD^2 p-value
    seed: int = 0  # seeds the multisets, the true wholes and every sampler's draws
    tail_part_counts: tuple[int, ...] = (8, 32, 128)  # n of the tail evaluation (evaluate --tail)
    tail_samples: int = 200  # wholes per rejection set there, from tail_samples / (1 - q) draws
    tail_sampler_samples: int = 20_000  # wholes from generate_tail there (its cost is amortised over them)

    def __post_init__(self) -> None:
        self.part_counts = tuple(int(k) for k in self.part_counts)
        if any(k < 0 for k in self.part_counts):
            raise ValueError(f"part_counts must be >= 0, got {self.part_counts}")
        self.tail_part_counts = tuple(int(k) for k in self.tail_part_counts)
        if any(k < 1 for k in self.tail_part_counts):
            raise ValueError(f"tail_part_counts must be >= 1, got {self.tail_part_counts}")
        for name in ("num_samples", "multisets_per_k", "permutations", "tail_samples", "tail_sampler_samples"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.num_samples < 2:
            raise ValueError(f"num_samples must be >= 2 (a two-sample distance), got {self.num_samples}")
