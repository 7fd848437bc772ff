"""The known conditions of wholes (``whole_attr``) as the features the networks read."""
from __future__ import annotations

import torch
from torch import Tensor

from .config import CompVAEConfig


def condition_features(whole_attr: Tensor | None, num_wholes: int, config: CompVAEConfig, like: Tensor) -> Tensor:
    """``[num_wholes, config.condition_dim]``: each whole's conditions and a flag, 1 where they are known.

    Unknown conditions (``whole_attr`` None, or a row of NaN) read as zeros with the flag 0, so one
    model serves both: trained with some conditions hidden, it generates with or without them.
    Without ``config.whole_attr_dim`` there are no columns. ``like`` gives the dtype and device.
    """
    features = like.new_zeros(num_wholes, config.condition_dim)
    if whole_attr is None or not config.whole_attr_dim:
        return features
    known = torch.isfinite(whole_attr).all(-1, keepdim=True)
    return torch.cat([torch.where(known, whole_attr, 0.0).to(like.dtype), known.to(like.dtype)], -1)
