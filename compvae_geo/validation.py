"""Checks that turn bad input into a clear ``ValueError`` before any computation."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from compvae_geo.layers._wholes import check_batch

from .config import CompVAEConfig


@dataclass
class Wholes:
    """The tensors of a batch of wholes, checked against a model configuration."""

    part: Tensor  # [N] category of each part
    part_attr: Tensor | None  # [N, F] continuous descriptors, or None
    whole: Tensor  # [B, *obs_shape] observed wholes
    batch: Tensor  # [N] whole of each part
    num_wholes: int  # B


def check_parts(part: Tensor, part_attr: Tensor | None, config: CompVAEConfig) -> None:
    """Raise ``ValueError`` unless ``part`` / ``part_attr`` are valid parts for ``config``."""
    if not isinstance(part, Tensor) or part.dim() != 1 or part.dtype != torch.long:
        shape = tuple(part.shape) if isinstance(part, Tensor) else type(part).__name__
        raise ValueError(f"part must be a 1D LongTensor of categories, got {shape}")
    if part.numel() and (int(part.min()) < 0 or int(part.max()) >= config.num_categories):
        raise ValueError(
            f"part category out of range: got values in [{int(part.min())}, {int(part.max())}], "
            f"the model knows categories 0..{config.num_categories - 1}"
        )
    if config.part_attr_dim == 0:
        if part_attr is not None:
            raise ValueError("this model takes no part_attr (config.part_attr_dim is 0)")
        return
    expected = (part.numel(), config.part_attr_dim)
    if part_attr is None or tuple(part_attr.shape) != expected:
        got = None if part_attr is None else tuple(part_attr.shape)
        raise ValueError(f"part_attr must have shape {expected}, got {got}")
    if not torch.isfinite(part_attr).all():
        raise ValueError("part_attr contains NaN or inf")


def check_wholes(data, config: CompVAEConfig) -> Wholes:
    """Validates a PyG ``Data``/``Batch`` of wholes (``part``, ``whole``, optional ``part_attr``)."""
    for key in ("part", "whole"):
        if getattr(data, key, None) is None:
            raise ValueError(f"the batch has no '{key}' attribute")
    part, whole = data.part, data.whole
    part_attr = getattr(data, "part_attr", None)
    check_parts(part, part_attr, config)
    if whole.dim() != 1 + len(config.obs_shape) or tuple(whole.shape[1:]) != config.obs_shape:
        raise ValueError(
            f"whole must have shape [num_wholes, {', '.join(map(str, config.obs_shape))}], got {tuple(whole.shape)}"
        )
    if not torch.isfinite(whole).all():
        raise ValueError("whole contains NaN or inf")
    num_wholes = whole.size(0)
    batch = getattr(data, "batch", None)
    if batch is None:
        if num_wholes != 1:
            raise ValueError(f"{num_wholes} wholes but no batch vector saying which parts belong to which")
        batch = torch.zeros_like(part)
    check_batch(batch, part.numel(), num_wholes)
    return Wholes(part, part_attr, whole, batch, num_wholes)
