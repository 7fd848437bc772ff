r"""An observation model that composes: the decoder speaks for one part, the whole is K of them."""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.distributions import Normal

from .gaussian import floored_scale, normal


class PerPartObservation(nn.Module):
    r""":math:`p(x \mid h) = \mathcal{N}(K \mu(\bar{h}), \mathrm{diag}\, K \sigma^2(\bar{h}))`, K the number of parts.

    The decoder reads the whole's latent per part, :math:`\bar{h} = (z, \tilde{w}_{vec} / K, c, 1 / K)`, and the
    rendered sum per part, :math:`r / K`; its mean and variance are those of one part, and the whole's are K times
    theirs, as for a sum of K parts with independent residuals. What the decoder reads then stays in the range of
    training whatever K, so that a whole of more parts than any training whole scales with them (the whole is still
    not the sum of its parts: :math:`\mu` reads every part through the means and 1/K). K comes from the count
    channel of :math:`\tilde{w}` (``count_channel``), at least 1.

    Args:
        decoder (nn.Module): ``decoder(latent, rendered)`` gives the mean and a raw std (a codec's x-decoder), built
            for one more input than the latent has (the 1/K).
        scale_floor (float): smooth lower bound of each part's std.
        vector (slice): where the vector part of :math:`\tilde{w}` lies in the latent; its last column is K.
    """

    def __init__(self, decoder: nn.Module, scale_floor: float, vector: slice) -> None:
        super().__init__()
        self.decoder, self.scale_floor, self.vector = decoder, scale_floor, vector

    def forward(self, latent: Tensor, rendered: Tensor | None = None) -> Normal:
        """The distribution of x given ``latent`` ``[B, D]`` (and a rendered sum ``[B, channels, *grid]``)."""
        count = latent[:, self.vector.stop - 1:self.vector.stop].clamp(min=1.0)  # [B, 1]
        v = self.vector
        per_part = torch.cat([latent[:, :v.start], latent[:, v] / count, latent[:, v.stop:], count.reciprocal()], -1)
        per_part_rendered = None if rendered is None else rendered / count.view(-1, *([1] * (rendered.dim() - 1)))
        loc, raw_scale = self.decoder(per_part, per_part_rendered)
        scale = floored_scale(raw_scale, self.scale_floor).expand_as(loc)
        whole_count = count.view(-1, *([1] * (loc.dim() - 1)))
        return normal(whole_count * loc, whole_count.sqrt() * scale)

    def extra_repr(self) -> str:  # noqa: D102
        return f"scale_floor={self.scale_floor}, vector={self.vector}"

