"""A dataset's wholes as a source of training batches: seeded splits that do not leak, and epochs of shuffled batches.

The trainer draws its batches from a source with ``sample_batch``: a :class:`~compvae_geo.datasets.PartsProblem` (its
generator) and a :class:`DatasetSource` (files) both serve.
"""
from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.data import Batch

from .wholes_dataset import WholesDataset

SPLITS = ("train", "val", "test")
SPLIT_BY = ("whole", "multiset")  # or the dataset's group column ("group" in dataset.json)


def split_keys(dataset: WholesDataset, split_by: str) -> list[str]:
    """What a split keeps together, per whole: itself, its multiset (categories and descriptors), or its group."""
    if split_by == "whole":
        return [str(b) for b in range(len(dataset))]
    if split_by == "multiset":
        return _multiset_keys(dataset)
    if split_by == dataset.encoding.group_column and dataset.groups is not None:
        return [str(group) for group in dataset.groups]
    raise ValueError(f"--split-by must be one of {list(SPLIT_BY)} or the dataset's group column "
                     f"({dataset.encoding.group_column or 'none in its dataset.json'}), got {split_by!r}")


HASH_MULTIPLIERS = (0x9E3779B97F4A7C15 - 2**64, 0xBF58476D1CE4E5B9 - 2**64, 0x94D049BB133111EB - 2**64)  # splitmix64


def _mix(x: Tensor) -> Tensor:
    """A 64-bit mixing of integers (splitmix64's finaliser; the products wrap around)."""
    x = (x ^ (x >> 30)) * HASH_MULTIPLIERS[1]
    x = (x ^ (x >> 27)) * HASH_MULTIPLIERS[2]
    return x ^ (x >> 31)


def _multiset_keys(dataset: WholesDataset) -> list[str]:
    """A key per whole that two wholes share exactly when their parts are the same multiset (category, descriptors).

    Each part hashes its category and the exact bits of its descriptors; a whole sums two independent mixings of its
    parts' hashes (an order-free combination) beside its number of parts. Vectorised: millions of wholes in seconds.
    """
    data, ptr = dataset._data, dataset.slices["part"]
    columns = [data.part.long()]
    if "part_attr" in dataset.slices:
        columns += list(data.part_attr.double().view(torch.int64).unbind(1))
    part_hash = torch.zeros_like(columns[0])
    for column in columns:
        part_hash = _mix(part_hash * HASH_MULTIPLIERS[0] + column)
    counts = ptr.diff()
    whole = torch.repeat_interleave(torch.arange(counts.numel()), counts)
    sums = [torch.zeros(counts.numel(), dtype=torch.int64).index_add_(0, whole, _mix(part_hash + salt))
            for salt in (1, 2)]
    return [f"{k}-{a:x}-{b:x}" for k, a, b in zip(counts.tolist(), sums[0].tolist(), sums[1].tolist())]


def split_dataset(dataset: WholesDataset, val_fraction: float, test_fraction: float, split_by: str,
                  seed: int) -> dict[str, Tensor]:
    """The wholes of each split (``train``, ``val``, ``test``), whole keys (:func:`split_keys`) never in two.

    The keys are shuffled with ``seed`` and cut by the fractions of keys; ``ValueError`` where a split that is asked
    for would be empty, or the training split would.
    """
    if min(val_fraction, test_fraction) < 0 or val_fraction + test_fraction >= 1:
        raise ValueError(f"need fractions >= 0 with val + test < 1, got {val_fraction} and {test_fraction}")
    keys = split_keys(dataset, split_by)
    distinct = sorted(set(keys))
    order = torch.randperm(len(distinct), generator=torch.Generator().manual_seed(seed))
    num_val, num_test = round(val_fraction * len(distinct)), round(test_fraction * len(distinct))
    if (val_fraction and not num_val) or (test_fraction and not num_test) or num_val + num_test >= len(distinct):
        train = 1 - val_fraction - test_fraction
        raise ValueError(f"{len(distinct)} distinct {split_by} keys cannot be split {train:g} / {val_fraction:g} / "
                         f"{test_fraction:g} with none empty")
    split_of = {}
    for rank, i in enumerate(order.tolist()):
        split_of[distinct[i]] = "val" if rank < num_val else "test" if rank < num_val + num_test else "train"
    return {split: torch.tensor([b for b, key in enumerate(keys) if split_of[key] == split], dtype=torch.long)
            for split in SPLITS}


class DatasetSource:
    """Batches of some of a dataset's wholes: epochs over them, shuffled, each batch with the K the data have.

    Args:
        dataset (WholesDataset): the wholes.
        index (Tensor): the wholes of this source (a split), ``[W]``.
    """

    def __init__(self, dataset: WholesDataset, index: Tensor) -> None:
        if index.numel() == 0:
            raise ValueError("a data source needs at least one whole")
        self.dataset, self.index = dataset, index
        self._epoch_order: Tensor | None = None
        self._position = 0
        self.epoch = 0  # epochs begun

    num_categories = property(lambda self: self.dataset.num_categories)
    part_attr_dim = property(lambda self: self.dataset.part_attr_dim)
    whole_attr_dim = property(lambda self: self.dataset.whole_attr_dim)
    obs_shape = property(lambda self: self.dataset.obs_shape)
    observation = property(lambda self: self.dataset.observation)
    noisy_wholes = property(lambda self: self.dataset.noisy_wholes)

    def sample_batch(self, batch_size: int, max_parts: int | None = None, min_parts: int = 0,
                     generator: torch.Generator | None = None, device: torch.device | str = "cpu") -> Batch:
        """The next ``batch_size`` wholes of the current epoch (a new shuffled epoch when it runs out).

        The wholes' numbers of parts are the data's: ``max_parts`` and ``min_parts`` (a simulator's curriculum) do not
        apply to recorded wholes and are ignored.
        """
        taken = []
        while sum(t.numel() for t in taken) < batch_size:
            if self._epoch_order is None or self._position >= self.index.numel():
                self._epoch_order = self.index[torch.randperm(self.index.numel(), generator=generator,
                                                              device=generator.device if generator else None).cpu()]
                self._position, self.epoch = 0, self.epoch + 1
            need = batch_size - sum(t.numel() for t in taken)
            taken.append(self._epoch_order[self._position:self._position + need])
            self._position += taken[-1].numel()
        return self.dataset.batch(torch.cat(taken)).to(device)
