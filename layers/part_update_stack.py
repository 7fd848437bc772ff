"""Several eq. (5) layers in a row, residual where the sizes allow."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .part_update_conv import PartUpdateConv
from .wholes import resolve_batch


class PartUpdateStack(nn.ModuleList):
    r""":class:`PartUpdateConv` layers of widths ``channels[0] -> channels[1] -> ...`` applied in turn.

    :math:`\mathbf{h} \leftarrow \mathbf{h} + \mathrm{layer}(\mathbf{h})` where a layer keeps the size,
    :math:`\mathbf{h} \leftarrow \mathrm{layer}(\mathbf{h})` where it changes it. The residual keeps the input reachable
    at depth (with default initialisation its signal otherwise fades layer by layer). Still :math:`O(|V|)` and
    permutation-equivariant within each whole.

    Args:
        channels (Sequence[int]): the part-state sizes, input first; ``len(channels) - 1`` layers.
    """

    def __init__(self, channels: Sequence[int]) -> None:
        super().__init__(PartUpdateConv(c_in, c_out) for c_in, c_out in zip(channels, channels[1:]))

    def forward(
        self, x: Tensor, batch: Tensor | None = None, num_wholes: int | None = None, context: Tensor | None = None
    ) -> Tensor:
        """Part states :math:`(|V|, F_0)` to :math:`(|V|, F_L)`, layer by layer.

        ``context`` :math:`(|G|, F_c)`: the first :math:`F_c` channels of the input, one row per whole,
        shared by its parts (:class:`PartUpdateConv`); ``x`` then holds the other :math:`F_0 - F_c`.
        """
        for index, layer in enumerate(self):
            layer_context = context if index == 0 else None
            update = layer(x, batch, num_wholes=num_wholes, context=layer_context)
            if layer.in_channels == layer.out_channels:
                if layer_context is not None:
                    x = torch.cat([layer_context.index_select(0, resolve_batch(batch, x.size(0), x.device)[0]), x], -1)
                update = x + update
            x = update
        return x
