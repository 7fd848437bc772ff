"""Shared plumbing for tensors of parts grouped into wholes by a PyG ``batch`` vector."""
from __future__ import annotations

import torch
from torch import Tensor


def resolve_batch(
    batch: Tensor | None, num_parts: int, device: torch.device | None = None, num_wholes: int | None = None
) -> tuple[Tensor, int]:
    """The ``batch`` vector and the number of wholes; with no ``batch``, the parts form one whole.

    ``num_wholes`` (default ``max(batch) + 1``) counts trailing wholes with no parts.
    """
    if batch is None:
        return torch.zeros(num_parts, dtype=torch.long, device=device), 1
    return batch, count_wholes(batch, num_wholes)


def count_wholes(batch: Tensor, num_wholes: int | None) -> int:
    """``num_wholes`` if given, else ``max(batch) + 1`` (0 for no parts at all)."""
    if num_wholes is not None:
        return int(num_wholes)
    return int(batch.max()) + 1 if batch.numel() > 0 else 0


def repeat_rows(tensor: Tensor | None, times: int) -> Tensor | None:
    """``tensor`` ``[N, ...]`` stacked ``times`` times along dim 0: one multiset once per sample (None stays None)."""
    return None if tensor is None else tensor.repeat(times, *([1] * (tensor.dim() - 1)))


def check_batch(batch: Tensor, num_parts: int, num_wholes: int) -> None:
    """Raise ``ValueError`` unless ``batch`` assigns each of ``num_parts`` parts to a whole."""
    if batch.dim() != 1 or batch.numel() != num_parts:
        raise ValueError(
            f"batch must be a 1D tensor with one entry per part ({num_parts}), "
            f"got shape {tuple(batch.shape)}"
        )
    if batch.dtype != torch.long:
        raise ValueError(f"batch must be a LongTensor, got {batch.dtype}")
    if num_parts > 0 and (int(batch.min()) < 0 or int(batch.max()) >= num_wholes):
        raise ValueError(
            f"batch values must lie in [0, {num_wholes}), "
            f"got [{int(batch.min())}, {int(batch.max())}]"
        )
