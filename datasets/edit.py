"""A what-if edit of an observed multiset: which of its parts stay, which are added."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from compvae_geo.validation import as_multisets, check_parts

__all__ = ["Edit", "check_edit"]


@dataclass
class Edit:
    """A what-if edit of an observed whole of K parts: which parts stay, which are added."""

    keep: Tensor  # [K] bool: True for the observed parts that stay
    add_part: Tensor  # [A] categories of the added parts
    add_part_attr: Tensor | None  # [A, F] their descriptors, or None (no descriptors, or to be drawn)

    @property
    def removed(self) -> Tensor:
        """Positions of the removed parts in the observed whole, ``[R]``."""
        return (~self.keep).nonzero()[:, 0]

    @property
    def num_parts(self) -> int:
        """Parts of the edited whole: the kept ones, then the added ones."""
        return int(self.keep.sum()) + self.add_part.numel()

    def to(self, device: torch.device | str) -> Edit:
        """This edit on ``device``."""
        attr = None if self.add_part_attr is None else self.add_part_attr.to(device)
        return Edit(self.keep.to(device), self.add_part.to(device), attr)

    def edited_parts(self, part: Tensor, part_attr: Tensor | None) -> tuple[Tensor, Tensor | None]:
        """The edited multiset of an observed one: its kept parts ``part[keep]``, then the added parts."""
        edited = torch.cat([part[self.keep], self.add_part])
        if part_attr is None or self.add_part_attr is None:
            return edited, None
        return edited, torch.cat([part_attr[self.keep], self.add_part_attr.to(part_attr.dtype)])


def check_edit(
    num_parts: int,
    remove: Tensor | Sequence[int] | None,
    add_part: Tensor | Sequence[int] | None,
    add_part_attr: Tensor | None,
    num_categories: int,
    part_attr_dim: int,
    attr_required: bool = True,
) -> Edit:
    """The :class:`Edit` that removes parts ``remove`` of an observed whole of ``num_parts`` and adds ``add_part``.

    ``remove`` are positions in the observed whole (``0 .. num_parts - 1``, each at most once); ``add_part`` the
    categories of the added parts (``add_part_attr`` ``[A, part_attr_dim]`` their descriptors; with
    ``attr_required=False`` they may be None, to be drawn). ``ValueError`` for anything else.
    """
    positions = as_multisets([] if remove is None else remove)
    if not isinstance(positions, Tensor) or positions.dim() != 1 or positions.dtype != torch.long:
        raise ValueError(f"remove must be the positions of parts in the observed whole (ints), got {remove!r}")
    if positions.numel() and (int(positions.min()) < 0 or int(positions.max()) >= num_parts):
        bad = int(positions.max()) if int(positions.max()) >= num_parts else int(positions.min())
        known = f"0..{num_parts - 1}" if num_parts else "none"
        raise ValueError(f"no part {bad} to remove: the observed whole has {num_parts} parts (positions {known})")
    if positions.unique().numel() != positions.numel():
        raise ValueError(f"remove names a part twice: {positions.tolist()}")
    added = as_multisets([] if add_part is None else add_part)
    if not isinstance(added, Tensor):
        raise ValueError(f"add_part must be one multiset of categories (ints), got {add_part!r}")
    if part_attr_dim and add_part_attr is None and added.numel() == 0:
        add_part_attr = torch.zeros(0, part_attr_dim)
    drawn_later = part_attr_dim and add_part_attr is None and not attr_required
    try:
        check_parts(added, add_part_attr, num_categories, 0 if drawn_later else part_attr_dim)
    except ValueError as error:
        raise ValueError(f"added parts: {error}".replace("part_attr", "add_part_attr")) from None
    keep = torch.ones(num_parts, dtype=torch.bool, device=positions.device)
    keep[positions] = False
    return Edit(keep, added, add_part_attr)
