"""Small builders shared by the tests."""
from __future__ import annotations

import torch
from torch import Tensor


def batch_vector(counts: list[int]) -> Tensor:
    """The PyG batch vector of wholes with ``counts[b]`` parts each."""
    return torch.repeat_interleave(torch.arange(len(counts)), torch.tensor(counts, dtype=torch.long))


def to_padded(x: Tensor, counts: list[int]) -> tuple[Tensor, Tensor]:
    """``[N, F]`` parts to ``[B, Kmax, F]`` zero-padded wholes and a ``[B, Kmax]`` mask."""
    k_max = max(counts + [1])
    padded = x.new_zeros(len(counts), k_max, *x.shape[1:])
    mask = torch.zeros(len(counts), k_max, dtype=torch.bool)
    start = 0
    for b, k in enumerate(counts):
        padded[b, :k] = x[start : start + k]
        mask[b, :k] = True
        start += k
    return padded, mask


def from_padded(padded: Tensor, mask: Tensor) -> Tensor:
    """Inverse of :func:`to_padded`."""
    return padded[mask]
