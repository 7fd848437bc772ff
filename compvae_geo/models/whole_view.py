r"""What the x-encoder reads of an observed whole: the whole as it is, or one part's share of it.

A model that sees the number of parts K reads the whole :math:`x` (:class:`WholeAsObserved`); one that does not
(``CompVAEConfig.sees_count`` False) reads :math:`x / K` (:class:`WholePerPart`), in the range of training for any K,
as its per-part decoder gives :math:`p(x \mid \dots)` from one part's law, scaled by K.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..validation import Wholes


class WholeAsObserved(nn.Module):
    """The whole ``[B, *obs_shape]`` as observed."""

    def forward(self, wholes: Wholes) -> Tensor:  # noqa: D102
        return wholes.whole


class WholePerPart(nn.Module):
    """The whole divided by its number of parts K (at least 1), ``[B, *obs_shape]``."""

    def forward(self, wholes: Wholes) -> Tensor:  # noqa: D102
        counts = torch.bincount(wholes.batch, minlength=wholes.num_wholes).clamp(min=1).to(wholes.whole.dtype)
        return wholes.whole / counts.view(-1, *([1] * (wholes.whole.dim() - 1)))
