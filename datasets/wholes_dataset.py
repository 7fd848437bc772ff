"""A dataset of wholes and their parts read from files, with PyG's ``InMemoryDataset`` conventions."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor
from torch_geometric.data import Batch, Data, InMemoryDataset

from .batching import batch_from_tensors
from .encoding import DataEncoding
from .tables import SETTINGS_FILE, TABLE_SUFFIXES, read_tables


class WholesDataset(InMemoryDataset):
    r"""Wholes and their parts from the two tables of a directory (docs/data_format.md): one ``Data`` per whole.

    Each ``Data`` holds ``part`` (category ids, through :attr:`encoding`'s vocabulary), ``part_attr`` (the parts'
    descriptors, standardised), ``whole`` ``[1, T]`` (the values divided by the stored value scale) and, where
    ``dataset.json`` names conditions, ``whole_attr`` ``[1, C]`` (one-hot categorical and standardised numeric
    conditions; a row of NaN where a cell is empty: unknown). The processed tensors are cached under
    ``root/processed``, named after a digest of the files (changed files are read again), and built without
    collating ``Data`` objects (fast for millions of wholes); :meth:`batch` builds a ``Batch`` the same way.

    Args:
        root (str or Path): the directory of ``wholes.csv``/``.parquet``, ``parts.csv``/``.parquet`` and
            ``dataset.json`` (optional).
        transform (callable, optional): applied to each ``Data`` when it is read. (default: ``None``)
        pre_transform (callable, optional): applied to each ``Data`` before it is cached (then the wholes are
            collated from ``Data`` objects, the slow way). (default: ``None``)
        force_reload (bool): process the files again even if a cache exists. (default: ``False``)
        drop_incomplete (bool): leave out the wholes with a missing value (counted in :attr:`dropped`) instead of
            refusing the files. (default: ``False``)
        encoding (DataEncoding, optional): read the files through this encoding (a trained model's) instead of
            one fitted on them: other files of the same layout, such as new days of the same multisets.
            (default: ``None``)
    """

    def __init__(self, root: str | Path, transform: Callable | None = None, pre_transform: Callable | None = None,
                 force_reload: bool = False, drop_incomplete: bool = False,
                 encoding: DataEncoding | None = None) -> None:
        self.drop_incomplete, self.given_encoding = drop_incomplete, encoding
        self._files = sorted(path for path in Path(root).iterdir() if path.suffix in TABLE_SUFFIXES
                             or path.name == SETTINGS_FILE) if Path(root).is_dir() else []
        digest = hashlib.sha256()
        for path in self._files:
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
        digest.update(b"drop incomplete" if drop_incomplete else b"")
        self._digest = digest.hexdigest()[:16]
        self._cache_name = self._digest if encoding is None else \
            f"{self._digest}-{hashlib.sha256(json.dumps(encoding.to_dict()).encode()).hexdigest()[:8]}"
        super().__init__(str(root), transform, pre_transform, log=False, force_reload=force_reload)
        self.load(self.processed_paths[0])
        self.encoding = DataEncoding.from_dict(json.loads(Path(self.processed_paths[1]).read_text()))
        groups = json.loads(Path(self.processed_paths[2]).read_text())
        self.groups: list | None = groups["groups"]  # the group of each whole, or None
        self.dropped: int = groups["dropped"]  # wholes left out for a missing value (drop_incomplete)

    @property
    def raw_dir(self) -> str:
        """The files are in ``root`` itself."""
        return self.root

    @property
    def raw_file_names(self) -> list[str]:
        """The tables and ``dataset.json``, as found in ``root``."""
        return [path.name for path in self._files]

    @property
    def processed_file_names(self) -> list[str]:
        """The tensors, the encoding and the wholes' groups, named after the files' contents (and a given encoding)."""
        return [f"{name}-{self._cache_name}.{suffix}"
                for name, suffix in (("wholes", "pt"), ("encoding", "json"), ("groups", "json"))]

    def download(self) -> None:
        """There is nothing to download: a root without tables is an error (named by :func:`read_tables`)."""
        read_tables(self.root, self.drop_incomplete)

    def process(self) -> None:
        """Reads and checks the tables, fits the encoding (or checks the given one), caches the tensors and it."""
        tables = read_tables(self.root, self.drop_incomplete)
        encoding = self.given_encoding or DataEncoding.fit(tables)
        if self.given_encoding is not None:
            encoding.check_reads(tables, self.root)
        counts = torch.bincount(torch.from_numpy(tables.part_whole), minlength=len(tables.whole_ids))
        order = torch.from_numpy(tables.part_whole).argsort(stable=True)  # the parts grouped by whole, in file order
        stored = {"part": encoding.category_ids(tables.categories)[order],
                  "part_attr": encoding.encode_descriptors(tables.descriptors)[order],
                  "whole": encoding.encode_values(tables.values)}
        if encoding.conditions:
            stored["whole_attr"] = encoding.encode_conditions(tables.conditions, len(tables.whole_ids))
        if not encoding.descriptor_columns:
            del stored["part_attr"]
        if self.pre_transform is None:
            ptr = torch.cat([counts.new_zeros(1), counts.cumsum(0)])
            wholes = torch.arange(len(tables.whole_ids) + 1)
            slices = {key: ptr if key.startswith("part") else wholes for key in stored}
            torch.save(({**stored, "num_nodes": int(ptr[-1]), "_num_nodes": counts.tolist()}, slices, Data),
                       self.processed_paths[0])
        else:
            self.save([self.pre_transform(data) for data in self._data_list(stored, counts)], self.processed_paths[0])
        Path(self.processed_paths[1]).write_text(json.dumps(encoding.to_dict(), indent=1))
        groups = None if tables.groups is None else [group if isinstance(group, (int, float)) else str(group)
                                                     for group in tables.groups]
        Path(self.processed_paths[2]).write_text(json.dumps({"groups": groups, "dropped": tables.dropped}))

    @staticmethod
    def _data_list(stored: dict[str, Tensor], counts: Tensor) -> list[Data]:
        parts = {key: value.split(counts.tolist()) for key, value in stored.items() if key.startswith("part")}
        return [Data(num_nodes=int(k), whole=stored["whole"][b:b + 1],
                     **{key: value[b] for key, value in parts.items()},
                     **({"whole_attr": stored["whole_attr"][b:b + 1]} if "whole_attr" in stored else {}))
                for b, k in enumerate(counts)]

    # ----- what a model is built from ------------------------------------------------------------

    @property
    def num_categories(self) -> int:
        """Part categories (the vocabulary's size)."""
        return len(self.encoding.vocabulary)

    @property
    def part_attr_dim(self) -> int:
        """Descriptors per part."""
        return len(self.encoding.descriptor_columns)

    @property
    def whole_attr_dim(self) -> int:
        """Columns of the conditions."""
        return self.encoding.whole_attr_dim

    @property
    def obs_shape(self) -> tuple[int, ...]:
        """The shape of one whole: its values."""
        return (len(self.encoding.value_columns),)

    observation = "curve"  # the codec of these wholes (a row of values)
    noisy_wholes = True  # recorded wholes: their noise is part of what they are

    @property
    def part_counts(self) -> Tensor:
        """The number of parts of each whole ``[W]``."""
        return self.slices["part"].diff()

    @property
    def digest(self) -> str:
        """A digest of the files' contents (what names the cache)."""
        return self._digest

    def batch(self, index: Tensor) -> Batch:
        """The wholes ``index`` ``[B]`` as one ``Batch``, built from the stored tensors (no ``Data`` objects)."""
        data, slices = self._data, self.slices
        starts, ends = slices["part"][index], slices["part"][index + 1]
        counts = ends - starts
        offsets = counts.cumsum(0) - counts  # of each whole's parts in the batch
        parts = torch.repeat_interleave(starts - offsets, counts) + torch.arange(int(counts.sum()))
        attr = data.part_attr[parts] if "part_attr" in slices else None
        whole_attr = data.whole_attr[index] if "whole_attr" in slices else None
        return batch_from_tensors(counts, data.part[parts], data.whole[index], attr, whole_attr)
