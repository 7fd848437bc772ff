"""Building PyG batches of wholes directly from flat tensors, without collating Data objects."""
from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.data import Batch


def batch_from_tensors(
    counts: Tensor, part: Tensor, whole: Tensor, part_attr: Tensor | None = None, whole_attr: Tensor | None = None
) -> Batch:
    """A Batch of wholes built from tensors, as ``Batch.from_data_list`` would build it.

    The :class:`~torch_geometric.data.Batch` that ``Batch.from_data_list`` would build from
    Data objects with ``counts[b]`` parts each, in O(total parts) with no Python loop.

    Args:
        counts: number of parts of each whole, ``[B]`` (zeros allowed).
        part: category of each part, ``[N]``, parts of whole 0 first.
        whole: the observed wholes, ``[B, *obs_shape]``.
        part_attr: continuous descriptors of each part, ``[N, F]`` (optional).
        whole_attr: the known conditions of each whole, ``[B, C]`` (optional).
    """
    num_wholes = counts.numel()
    ptr = torch.zeros(num_wholes + 1, dtype=torch.long, device=counts.device)
    torch.cumsum(counts, 0, out=ptr[1:])
    batch = torch.repeat_interleave(torch.arange(num_wholes, device=counts.device), counts)
    attrs = {"part": part, "whole": whole}
    if part_attr is not None:
        attrs["part_attr"] = part_attr
    if whole_attr is not None:
        attrs["whole_attr"] = whole_attr
    out = Batch(batch=batch, ptr=ptr, num_nodes=part.numel(), **attrs)
    # The bookkeeping Batch.from_data_list keeps, so that to_data_list() and indexing work.
    whole_slices = torch.arange(num_wholes + 1, device=counts.device)
    out._num_graphs = num_wholes
    out._slice_dict = {key: (whole_slices if key.startswith("whole") else ptr) for key in attrs}
    out._inc_dict = {key: torch.zeros(num_wholes, dtype=torch.long, device=counts.device) for key in attrs}
    out._store._num_nodes = counts.tolist()  # per-whole node counts, kept for K = 0 wholes
    return out
