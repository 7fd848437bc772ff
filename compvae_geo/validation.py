"""Checks that turn bad input into a clear ``ValueError`` before any computation, and the records they return.

The one place where parts, batch vectors, wholes and sample counts are validated (the datasets, the models and the
command line all call these; :func:`check_batch` lives in :mod:`compvae_geo.layers`, which stands alone, and is
re-exported here). A public entry point checks its input once into a :class:`Multisets` or :class:`Wholes` record
and passes the record inward.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import torch
from torch import Tensor
from torch_geometric.data import Data

from compvae_geo.layers import check_batch, repeat_rows, resolve_batch

__all__ = ["DataFields", "Multisets", "Wholes", "as_float", "as_multisets", "check_batch", "check_multiset",
           "check_num_samples", "check_parts", "check_whole_attr", "check_wholes"]


class DataFields(Protocol):
    """What the checks read of a model's configuration: the shape of its data."""

    num_categories: int
    part_attr_dim: int
    whole_attr_dim: int
    obs_shape: tuple[int, ...]


@dataclass(frozen=True)
class Multisets:
    """A checked batch of multisets of parts (a PyG disjoint union) and the known conditions of their wholes."""

    part: Tensor  # [N] category of each part
    part_attr: Tensor | None  # [N, F] continuous descriptors, or None
    batch: Tensor  # [N] whole of each part
    num_wholes: int  # B
    whole_attr: Tensor | None  # [B, C] known conditions (rows of NaN: unknown), or None

    @classmethod
    def of(cls, part: Tensor, part_attr: Tensor | None = None, batch: Tensor | None = None,
           num_wholes: int | None = None, whole_attr: Tensor | None = None) -> Multisets:
        """The record of tensors that are valid already (no checks); with no ``batch``, all parts form one whole."""
        batch, num_wholes = resolve_batch(batch, part.numel(), part.device, num_wholes)
        return Multisets(part=part, part_attr=part_attr, batch=batch, num_wholes=num_wholes, whole_attr=whole_attr)

    def copies(self, times: int) -> Multisets:
        """The batch ``times`` times over (``times * B`` wholes), e.g. S samples of one multiset."""
        offsets = torch.arange(times, device=self.batch.device).repeat_interleave(self.part.numel()) * self.num_wholes
        return replace(self, part=self.part.repeat(times), part_attr=repeat_rows(self.part_attr, times),
                       batch=self.batch.repeat(times) + offsets, num_wholes=times * self.num_wholes,
                       whole_attr=repeat_rows(self.whole_attr, times))


@dataclass(frozen=True)
class Wholes(Multisets):
    """A checked batch of observed wholes and their multisets."""

    whole: Tensor  # [B, *obs_shape] observed wholes

    def copies(self, times: int) -> Wholes:
        """The batch ``times`` times over, wholes included."""
        return replace(super().copies(times), whole=repeat_rows(self.whole, times))


def check_num_samples(num_samples: int) -> None:
    """Raise ``ValueError`` unless ``num_samples`` is a positive integer."""
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
        raise ValueError(f"num_samples must be an integer >= 1, got {num_samples!r}")


def as_multisets(parts: Tensor | Sequence[int] | Sequence[Tensor]) -> Tensor | list[Tensor]:
    """One multiset ``[K]`` (a tensor, or a list of ints), or several (a list of tensors) as a list.

    Anything else is a ``ValueError`` that says which forms are accepted.
    """
    if isinstance(parts, Tensor):
        return parts
    if isinstance(parts, (list, tuple)):
        if all(isinstance(item, int) and not isinstance(item, bool) for item in parts):
            return torch.tensor(list(parts), dtype=torch.long)  # [] is the empty multiset
        if all(isinstance(item, Tensor) for item in parts):
            return list(parts)
    raise ValueError("parts must be a LongTensor [K] or a list of ints (one multiset), or a list of LongTensors "
                     f"(several multisets), got {parts!r}")


def check_parts(part: Tensor, part_attr: Tensor | None, num_categories: int, part_attr_dim: int) -> None:
    """Raise ``ValueError`` unless ``part`` and ``part_attr`` are valid parts.

    Raise ``ValueError`` unless ``part`` ``[K]`` (categories in ``[0, num_categories)``) and
    ``part_attr`` (``[K, part_attr_dim]`` finite values, or None when ``part_attr_dim`` is 0) are valid parts.
    """
    if not isinstance(part, Tensor) or part.dim() != 1 or part.dtype != torch.long:
        shape = f"{part.dtype} of shape {tuple(part.shape)}" if isinstance(part, Tensor) else type(part).__name__
        raise ValueError(f"part must be a 1D LongTensor of categories, got {shape}")
    if part.numel() and (int(part.min()) < 0 or int(part.max()) >= num_categories):
        raise ValueError(
            f"part category out of range: got values in [{int(part.min())}, {int(part.max())}], "
            f"the known categories are 0..{num_categories - 1}"
        )
    if part_attr_dim == 0:
        if part_attr is not None:
            raise ValueError("this model or problem takes no part_attr (its part_attr_dim is 0)")
        return
    expected = (part.numel(), part_attr_dim)
    if part_attr is None or tuple(part_attr.shape) != expected:
        got = None if part_attr is None else tuple(part_attr.shape)
        raise ValueError(f"part_attr must have shape {expected}, got {got}")
    if not torch.isfinite(part_attr).all():
        raise ValueError("part_attr contains NaN or inf")


def as_float(name: str, value: Tensor | None, dtype: torch.dtype) -> Tensor | None:
    """``value`` converted to the model's float ``dtype`` (e.g. float64 input); ``ValueError`` if it cannot be used.

    Refused: a tensor that is not floating point, and finite values so large that their squares overflow ``dtype``
    (a whole of 1e30 would only show as NaN losses): scale such data first. NaN and inf pass (checked by the caller).
    """
    if value is None:
        return None
    if not isinstance(value, Tensor) or not value.is_floating_point():
        kind = value.dtype if isinstance(value, Tensor) else type(value).__name__
        raise ValueError(f"{name} must be a float tensor, got {kind}")
    limit = torch.finfo(dtype).max ** 0.5
    # one reduction over the finite values (no masked copy: this runs on every training step)
    largest = float(value.abs().nan_to_num(nan=0.0, posinf=0.0).amax()) if value.numel() else 0.0
    if largest > limit:
        raise ValueError(f"{name} holds values up to {largest:.3g}, beyond what {dtype} arithmetic "
                         f"squares without overflow ({limit:.3g}): scale the data (e.g. standardise it)")
    return value.to(dtype)


def check_whole_attr(whole_attr: Tensor | None, num_wholes: int, whole_attr_dim: int) -> Tensor | None:
    """``whole_attr`` as ``[num_wholes, whole_attr_dim]``, or None; ``ValueError`` if invalid.

    ``[whole_attr_dim]`` or ``[1, whole_attr_dim]`` is one whole's conditions, repeated for every whole. A row of
    NaN says that whole's conditions are unknown; any other non-finite value is an error.
    """
    if whole_attr is None:
        return None
    if not whole_attr_dim:
        raise ValueError("this model or problem takes no whole_attr (its whole_attr_dim is 0)")
    if not isinstance(whole_attr, Tensor) or not whole_attr.is_floating_point():
        raise ValueError(f"whole_attr must be a float tensor, got {type(whole_attr).__name__}")
    if whole_attr.dim() == 1 or (whole_attr.dim() == 2 and whole_attr.size(0) == 1):  # one row for all
        whole_attr = whole_attr.reshape(1, -1).expand(num_wholes, -1)
    if whole_attr.dim() != 2 or whole_attr.size(-1) != whole_attr_dim or whole_attr.size(0) != num_wholes:
        raise ValueError(f"whole_attr must have shape ({whole_attr_dim},), (1, {whole_attr_dim}) or "
                         f"({num_wholes}, {whole_attr_dim}), got {tuple(whole_attr.shape)}")
    finite, unknown = torch.isfinite(whole_attr).all(-1), torch.isnan(whole_attr).all(-1)
    if not (finite | unknown).all():
        raise ValueError("whole_attr rows must be finite, or all NaN for unknown conditions")
    return whole_attr


def check_wholes(data: Data, config: DataFields, dtype: torch.dtype = torch.float32) -> Wholes:
    """Validates a PyG ``Data``/``Batch`` of wholes against a model's ``config``.

    The batch holds ``part``, ``whole`` and optionally ``part_attr``, and, read with
    ``config.whole_attr_dim`` only, ``whole_attr``; with no ``batch`` vector it must hold one whole.
    Float tensors of another precision are converted to the model's ``dtype`` (see :func:`as_float`).
    """
    for key in ("part", "whole"):
        if getattr(data, key, None) is None:
            raise ValueError(f"the batch has no '{key}' attribute")
    part, whole = data.part, as_float("whole", data.whole, dtype)
    part_attr = as_float("part_attr", getattr(data, "part_attr", None), dtype)
    check_parts(part, part_attr, config.num_categories, config.part_attr_dim)
    if whole.dim() != 1 + len(config.obs_shape) or tuple(whole.shape[1:]) != config.obs_shape:
        raise ValueError(
            f"whole must have shape [num_wholes, {', '.join(map(str, config.obs_shape))}], got {tuple(whole.shape)}"
        )
    if not torch.isfinite(whole).all():
        raise ValueError("whole contains NaN or inf")
    num_wholes = whole.size(0)
    if getattr(data, "batch", None) is None and num_wholes != 1:
        raise ValueError(f"{num_wholes} wholes but no batch vector saying which parts belong to which")
    batch, _ = resolve_batch(getattr(data, "batch", None), part.numel(), part.device, num_wholes)
    check_batch(batch, part.numel(), num_wholes)
    whole_attr = None  # a model without conditions ignores the ones a batch may carry
    if config.whole_attr_dim:
        whole_attr = as_float("whole_attr", getattr(data, "whole_attr", None), dtype)
        whole_attr = check_whole_attr(whole_attr, num_wholes, config.whole_attr_dim)
    return Wholes(part=part, part_attr=part_attr, batch=batch, num_wholes=num_wholes, whole_attr=whole_attr,
                  whole=whole)


def check_wholes_have_parts(wholes: Wholes) -> None:
    """Refuses wholes of no parts, for a model whose whole is the sum of its parts (``per_part_decoder``).

    Such a model's whole of no parts is exactly 0, a point mass without a density: nothing to learn from or to infer.
    """
    empty = torch.bincount(wholes.batch, minlength=wholes.num_wholes) == 0
    if empty.any():
        raise ValueError(f"whole {int(empty.nonzero()[0])} of the batch has no parts: this model's whole is the sum of "
                         "its parts (per_part_decoder), exactly 0 with none, and it neither learns from nor encodes "
                         "such wholes")


def check_multiset(
    part: Tensor, part_attr: Tensor | None, whole_attr: Tensor | None, config: DataFields,
    dtype: torch.dtype = torch.float32, copies: int = 1,
) -> Multisets:
    """``copies`` copies of one multiset ``part`` ``[K]`` (with ``part_attr`` ``[K, F]``), checked as a record.

    ``whole_attr`` are the known conditions: ``[whole_attr_dim]`` (or one row) for every copy, one row per copy, or
    None (unknown). Float input of another precision is converted to ``dtype`` (see :func:`as_float`).
    """
    check_num_samples(copies)
    part_attr = as_float("part_attr", part_attr, dtype)
    check_parts(part, part_attr, config.num_categories, config.part_attr_dim)
    whole_attr = check_whole_attr(as_float("whole_attr", whole_attr, dtype), copies, config.whole_attr_dim)
    batch = torch.zeros(part.numel(), dtype=torch.long, device=part.device)
    one = Multisets(part=part, part_attr=part_attr, batch=batch, num_wholes=1, whole_attr=None)
    return replace(one.copies(copies), whole_attr=whole_attr)
