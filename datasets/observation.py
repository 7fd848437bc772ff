"""One whole drawn from a problem's generator, with the hidden draws it was made of."""
from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor
from torch_geometric.data import Data


@dataclass
class Observation:
    """An observed whole and everything its generator drew, so that its what-if wholes can be simulated exactly.

    A model sees :meth:`data` (the parts, their descriptors, the whole and its known conditions); the
    intrinsic variation of each part and the shared factors of the whole stay hidden.
    """

    part: Tensor  # [K] categories
    part_attr: Tensor | None  # [K, F] descriptors, or None for problems without any
    intrinsics: Tensor  # [K, F'] the hidden variation of each part
    shared: Tensor | None  # [1, S] the hidden factors its parts share, or None for problems without any
    whole: Tensor  # [1, *obs_shape]
    whole_attr: Tensor | None  # [1, whole_attr_dim] the conditions a user knows, or None

    def data(self) -> Data:
        """What a model sees of it: ``part``, ``whole``, and ``part_attr``/``whole_attr`` where the problem has them."""
        attrs = {"part": self.part, "whole": self.whole}
        if self.part_attr is not None:
            attrs["part_attr"] = self.part_attr
        if self.whole_attr is not None:
            attrs["whole_attr"] = self.whole_attr
        return Data(num_nodes=self.part.numel(), **attrs)
