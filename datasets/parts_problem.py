"""What every synthetic parts-to-whole problem shares: sampling multisets, batching, Data lists."""
from __future__ import annotations

import math
from abc import ABC, abstractmethod

import torch
from torch import Tensor
from torch_geometric.data import Batch, Data
from torch_geometric.utils import scatter

from compvae_geo.layers import repeat_rows
from compvae_geo.validation import check_parts

from .batching import batch_from_tensors
from .edit import Edit, check_edit
from .encoding import ConditionEncoding, DataEncoding
from .observation import Observation


class PartsProblem(ABC):
    """A known generator of wholes from multisets of parts.

    A part has a category in ``[0, num_categories)``, optional continuous descriptors
    ``part_attr`` that the model sees, and hidden intrinsic variation (amplitude, intensity, ...)
    that it does not. A whole may also have shared factors that all its parts see (weather,
    calendar, events: :meth:`sample_shared`), some of which a user may know as conditions
    ``whole_attr`` (:meth:`whole_attr_of`). Subclasses say how to draw the descriptors, the intrinsic
    variation and the shared factors, and how to render wholes; this class turns that into seeded,
    vectorised batches with mixed K.
    """

    num_categories: int
    part_attr_dim: int = 0
    whole_attr_dim: int = 0  # conditions a user may know about a whole (0: none)
    observation: str  # name of the CompVAE x-encoder/decoder family for these wholes
    unit: str | None = None  # of the wholes' values, written by export (docs/data_format.md)
    step_hours: float | None = None  # the wholes are load curves with steps this long (hours), or None
    # the wholes' fine-scale noise is part of what is simulated: a model generates, and is evaluated on, draws of
    # p(x | ...), not its mean
    noisy_wholes: bool = False

    @property
    def category_labels(self) -> tuple[str, ...]:
        """The name of each category, as the files of :func:`~compvae_geo.datasets.export.export_problem` write it."""
        return tuple(str(category) for category in range(self.num_categories))

    @property
    def descriptor_names(self) -> tuple[str, ...]:
        """The name of each column of ``part_attr``, as files write it."""
        return tuple(f"attr_{j}" for j in range(self.part_attr_dim))

    @property
    def condition_encodings(self) -> tuple[ConditionEncoding, ...]:
        """How ``whole_attr`` holds each condition a user may know (none by default)."""
        return ()

    @property
    def encoding(self) -> DataEncoding:
        """The problem's own terms in the files' vocabulary.

        Its category ids, its conditions as ``whole_attr`` holds them, descriptors and values as they are (no scale),
        so that its wholes travel as files (:func:`~compvae_geo.datasets.export.export_problem`) and a model of it
        reads labels and named conditions.
        """
        return DataEncoding(
            vocabulary=list(self.category_labels), conditions=list(self.condition_encodings),
            descriptor_columns=list(self.descriptor_names), descriptor_mean=[0.0] * self.part_attr_dim,
            descriptor_std=[1.0] * self.part_attr_dim,
            value_columns=[f"v{t:04d}" for t in range(math.prod(self.obs_shape))], value_scale=1.0, unit=self.unit,
            step_hours=self.step_hours)

    @property
    @abstractmethod
    def obs_shape(self) -> tuple[int, ...]:
        """Shape of one whole."""

    @abstractmethod
    def sample_part_attr(self, part: Tensor, generator: torch.Generator | None) -> Tensor | None:
        """Continuous descriptors ``[N, part_attr_dim]`` of parts of categories ``part`` ``[N]``, or None."""

    @abstractmethod
    def sample_intrinsics(self, num_parts: int, generator: torch.Generator | None, device: torch.device) -> Tensor:
        """The hidden per-part variation, ``[num_parts, F]``."""

    @abstractmethod
    def render(
        self, part: Tensor, part_attr: Tensor | None, intrinsics: Tensor, batch: Tensor, num_wholes: int,
        shared: Tensor | None = None,
    ) -> Tensor:
        """The wholes ``[num_wholes, *obs_shape]`` made of the given parts.

        ``batch`` maps parts to wholes; ``shared`` ``[num_wholes, S]`` holds each whole's shared factors.
        """

    def sample_shared(
        self, num_wholes: int, generator: torch.Generator | None, device: torch.device,
        whole_attr: Tensor | None = None,
    ) -> Tensor | None:
        """The hidden factors each whole's parts share, ``[num_wholes, S]``.

        Drawn given the conditions ``whole_attr`` ``[num_wholes, whole_attr_dim]`` when given; None for
        problems without any.
        """
        return None

    def hidden_factors(self, shared: Tensor) -> dict[str, Tensor]:
        """Named hidden factors of wholes with shared factors ``shared`` that a model should carry in z."""
        return {}

    def whole_attr_of(self, shared: Tensor | None) -> Tensor | None:
        """The conditions a user would know of wholes with shared factors ``shared``, ``[B, whole_attr_dim]``."""
        return None

    def check_whole_attr(self, whole_attr: Tensor | None) -> Tensor | None:
        """``whole_attr`` as ``[1, whole_attr_dim]`` (from ``[whole_attr_dim]`` too); ``ValueError`` if invalid."""
        if whole_attr is None:
            return None
        if not self.whole_attr_dim:
            raise ValueError(f"{type(self).__name__} takes no whole_attr (it has no conditions)")
        whole_attr = whole_attr.reshape(1, -1) if whole_attr.dim() == 1 else whole_attr
        if tuple(whole_attr.shape) != (1, self.whole_attr_dim):
            raise ValueError(f"whole_attr must have shape ({self.whole_attr_dim},) or (1, {self.whole_attr_dim}), "
                             f"got {tuple(whole_attr.shape)}")
        if not torch.isfinite(whole_attr).all():
            raise ValueError("whole_attr contains NaN or inf")
        return whole_attr

    def sample_batch(
        self,
        batch_size: int,
        max_parts: int,
        min_parts: int = 1,
        generator: torch.Generator | None = None,
        device: torch.device | str = "cpu",
    ) -> Batch:
        """``batch_size`` fresh wholes with mixed numbers of parts, as one Batch.

        ``batch_size`` fresh wholes, each with K uniform in ``[min_parts, max_parts]`` parts of
        uniform categories, as one Batch (the layout of ``Batch.from_data_list``).
        """
        return self.sample_batch_and_shared(batch_size, max_parts, min_parts, generator, device)[0]

    def sample_batch_and_shared(
        self,
        batch_size: int,
        max_parts: int,
        min_parts: int = 1,
        generator: torch.Generator | None = None,
        device: torch.device | str = "cpu",
    ) -> tuple[Batch, Tensor | None]:
        """:meth:`sample_batch` and the hidden shared factors of its wholes (None for problems without any)."""
        if not 0 <= min_parts <= max_parts:
            raise ValueError(f"need 0 <= min_parts <= max_parts, got {min_parts} and {max_parts}")
        if batch_size < 0:
            raise ValueError(f"batch_size must be >= 0, got {batch_size}")
        device = torch.device(device)
        counts = torch.randint(min_parts, max_parts + 1, (batch_size,), generator=generator, device=device)
        num_parts = int(counts.sum())
        part = torch.randint(0, self.num_categories, (num_parts,), generator=generator, device=device)
        return self._render_batch(counts, part, generator)

    def sample_wholes(
        self,
        part: Tensor,
        num_samples: int,
        part_attr: Tensor | None = None,
        whole_attr: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """``num_samples`` independent wholes of one fixed multiset.

        ``num_samples`` independent wholes ``[num_samples, *obs_shape]`` of one fixed multiset:
        the hidden intrinsic variation and the shared factors are redrawn, the latter given the
        conditions ``whole_attr`` ``[whole_attr_dim]`` when given.
        """
        return self._fixed_multiset(part, num_samples, part_attr, whole_attr, generator, naive=False)[0].whole

    def naive_wholes(
        self,
        part: Tensor,
        num_samples: int,
        part_attr: Tensor | None = None,
        whole_attr: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """The naive simulator's wholes of one fixed multiset.

        What the Monte-Carlo simulator CompVAE is contrasted with makes of one fixed multiset
        (see :meth:`naive_render`), ``[num_samples, *obs_shape]``.
        """
        return self._fixed_multiset(part, num_samples, part_attr, whole_attr, generator, naive=True)[0].whole

    def naive_render(
        self, part: Tensor, part_attr: Tensor | None, intrinsics: Tensor, batch: Tensor, num_wholes: int,
        shared: Tensor | None = None,
    ) -> Tensor:
        """The naive compositional simulator: parts generated independently and aggregated.

        By default each part is rendered as a whole on its own (through the non-linearity alone) and the renders are
        summed; a problem may define its own aggregation. The shared factors ``shared`` are drawn per
        part (``[N, S]``): each part has its own.
        """
        alone = torch.arange(part.numel(), device=part.device)
        singles = self.render(part, part_attr, intrinsics, alone, part.numel(), shared)
        return scatter(singles, batch, dim=0, dim_size=num_wholes, reduce="sum")

    def part_accuracy(self, wholes: Tensor, part: Tensor, part_attr: Tensor | None) -> float | None:
        """Share of the requested parts that ``wholes`` visibly show, where a part can be read off the whole.

        Share of the requested parts that ``wholes`` ``[S, *obs_shape]`` visibly show, for
        problems where a part can be read off the whole; None where it cannot (the default).
        """
        return None

    def observe(
        self,
        part: Tensor,
        part_attr: Tensor | None = None,
        whole_attr: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Observation:
        """One whole of the multiset ``part``, with the hidden draws it was made of (for :meth:`sample_counterfactual`).

        ``part_attr`` are drawn when not given (problems with descriptors); the shared factors are drawn given the
        conditions ``whole_attr`` ``[whole_attr_dim]`` when given.
        """
        if part_attr is None:
            part_attr = self.sample_part_attr(part, generator)
        self.check_parts(part, part_attr)
        whole_attr = self.check_whole_attr(whole_attr)
        device = part.device
        intrinsics = self.sample_intrinsics(part.numel(), generator, device)
        shared = self.sample_shared(1, generator, device, whole_attr)
        batch = torch.zeros(part.numel(), dtype=torch.long, device=device)
        whole = self.render(part, part_attr, intrinsics, batch, 1, shared)
        whole_attr = self.whole_attr_of(shared) if whole_attr is None else whole_attr
        return Observation(part, part_attr, intrinsics, shared, whole, whole_attr)

    def check_edit(
        self, observation: Observation, remove: Tensor | list[int] | None = None,
        add_part: Tensor | list[int] | None = None, add_part_attr: Tensor | None = None,
    ) -> Edit:
        """The :class:`~compvae_geo.datasets.Edit` of an observation (descriptors of added parts may be None: drawn)."""
        return check_edit(observation.part.numel(), remove, add_part, add_part_attr, self.num_categories,
                          self.part_attr_dim, attr_required=False)

    def sample_counterfactual(
        self, observation: Observation, edit: Edit, num_samples: int = 1, generator: torch.Generator | None = None,
    ) -> Tensor:
        """The true what-if wholes of an observation, ``[num_samples, *obs_shape]``.

        The ``edit`` (:meth:`check_edit`) removes parts of the observation and adds others (with its descriptors,
        drawn for each sample when it has none). The kept parts keep their descriptors and hidden variation, the
        whole keeps its shared factors (its day), and each sample draws the added parts' variation afresh: removing
        parts alone gives one whole, ``num_samples`` times.
        """
        if edit.keep.numel() != observation.part.numel():
            raise ValueError(f"the edit is of a whole of {edit.keep.numel()} parts, the observation has "
                             f"{observation.part.numel()}")
        device = observation.part.device
        kept = edit.keep.to(device)
        added = edit.add_part.to(device).repeat(num_samples)
        part = _kept_then_added(observation.part[kept], added, num_samples)
        fresh = self.sample_intrinsics(added.numel(), generator, device)
        intrinsics = _kept_then_added(observation.intrinsics[kept], fresh, num_samples)
        part_attr = None
        if observation.part_attr is not None:
            added_attr = self.sample_part_attr(added, generator) if edit.add_part_attr is None \
                else edit.add_part_attr.to(device, observation.part_attr.dtype).repeat(num_samples, 1)
            part_attr = _kept_then_added(observation.part_attr[kept], added_attr, num_samples)
        batch = torch.arange(num_samples, device=device).repeat_interleave(edit.num_parts)
        shared = None if observation.shared is None else observation.shared.expand(num_samples, -1)
        return self.render(part, part_attr, intrinsics, batch, num_samples, shared)

    def edit_directly(
        self, observation: Data, edit: Edit, num_samples: int, generator: torch.Generator | None = None,
    ) -> Tensor | None:
        """What a user does without a model: edit the observed whole itself, ``[num_samples, *obs_shape]``.

        ``observation`` is what a user sees (:meth:`Observation.data`). None where the problem has no such
        practice (the default); the households problem scales the observed load and adds simulated households.
        """
        return None

    def edit_by_standard_profile(
        self, observation: Observation, edit: Edit, num_samples: int, generator: torch.Generator | None = None,
    ) -> Tensor | None:
        """What a practitioner does with the field's standard profiles, ``[num_samples, *obs_shape]``.

        None where the problem has none (the default); the households problem adds households from the BDEW
        standard load profile.
        """
        return None

    def data_list(
        self, num_wholes: int, max_parts: int, min_parts: int = 1, seed: int = 0
    ) -> list[Data]:
        """A reproducible list of ``num_wholes`` Data objects (one node per part)."""
        generator = torch.Generator().manual_seed(seed)
        return self.sample_batch(num_wholes, max_parts, min_parts, generator).to_data_list()

    def check_parts(self, part: Tensor, part_attr: Tensor | None = None) -> None:
        """Raise ``ValueError`` unless ``part`` (and ``part_attr``) describe valid parts of this problem."""
        check_parts(part, part_attr, self.num_categories, self.part_attr_dim)

    def _render_batch(
        self, counts: Tensor, part: Tensor, generator: torch.Generator | None, part_attr: Tensor | None = None,
        whole_attr: Tensor | None = None, naive: bool = False,
    ) -> tuple[Batch, Tensor | None]:
        """Wholes of ``counts[b]`` parts each, with fresh intrinsics and shared factors (also returned).

        The shared factors are drawn given ``whole_attr`` ``[B, C]`` when given; with ``naive``, each
        part has its own.
        """
        device = part.device
        if part_attr is None:
            part_attr = self.sample_part_attr(part, generator)
        intrinsics = self.sample_intrinsics(part.numel(), generator, device)
        num_wholes = counts.numel()
        batch = torch.repeat_interleave(torch.arange(num_wholes, device=device), counts)
        if naive:
            per_part = None if whole_attr is None else whole_attr.index_select(0, batch)
            shared = self.sample_shared(part.numel(), generator, device, per_part)
            whole = self.naive_render(part, part_attr, intrinsics, batch, num_wholes, shared)
        else:
            shared = self.sample_shared(num_wholes, generator, device, whole_attr)
            whole = self.render(part, part_attr, intrinsics, batch, num_wholes, shared)
            whole_attr = self.whole_attr_of(shared) if whole_attr is None else whole_attr
        return batch_from_tensors(counts, part, whole, part_attr, whole_attr), shared

    def _fixed_multiset(self, part: Tensor, num_samples: int, part_attr: Tensor | None, whole_attr: Tensor | None,
                        generator: torch.Generator | None, naive: bool) -> tuple[Batch, Tensor | None]:
        """``num_samples`` wholes of one multiset (fresh intrinsics and shared factors for each)."""
        self.check_parts(part, part_attr)
        whole_attr = self.check_whole_attr(whole_attr)
        if whole_attr is not None:
            whole_attr = whole_attr.to(part.device).expand(num_samples, -1)
        counts = torch.full((num_samples,), part.numel(), dtype=torch.long, device=part.device)
        repeated_attr = repeat_rows(part_attr, num_samples)
        return self._render_batch(counts, part.repeat(num_samples), generator, repeated_attr, whole_attr, naive)


def _kept_then_added(kept: Tensor, added: Tensor, num_samples: int) -> Tensor:
    """Rows of ``num_samples`` edited wholes: the ``kept`` rows ``[K', ...]`` in each, then its share of ``added``.

    ``added`` ``[num_samples * A, ...]`` holds the added parts' rows, sample by sample; returns
    ``[num_samples * (K' + A), ...]``, whole by whole.
    """
    shape = added.shape[1:]
    per_sample = added.reshape(num_samples, -1, *shape) if added.numel() else added.new_zeros(num_samples, 0, *shape)
    return torch.cat([kept.expand(num_samples, *kept.shape), per_sample], 1).flatten(0, 1)

