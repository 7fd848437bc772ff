"""The last layers of a decoder that also reads the rendered sum of the parts."""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.nn import MLP


class PointwiseHead(nn.Module):
    """An MLP at every time step or pixel over the decoder's features and the parts' rendered sum.

    At every position of the whole's grid (a time step, a pixel), an MLP over the channels of
    the decoder's features and of the parts' rendered sum: ``[B, C_f, *grid]`` and
    ``[B, C_r, *grid]`` to ``[B, out_channels, *grid]``. Non-linear after the sum, so the
    whole is not the sum of its parts.
    """

    def __init__(self, feature_channels: int, rendered_channels: int, hidden_dim: int, out_channels: int) -> None:
        super().__init__()
        self.net = MLP([feature_channels + rendered_channels, hidden_dim, out_channels], norm=None)

    def forward(self, features: Tensor, rendered: Tensor) -> Tensor:
        """``[B, C_f, *grid]`` features and ``[B, C_r, *grid]`` rendered sum to ``[B, out_channels, *grid]``."""
        if features.shape[2:] != rendered.shape[2:]:
            raise ValueError(f"features {tuple(features.shape)} and rendered parts {tuple(rendered.shape)} "
                             "must share the grid")
        # channels last for the MLP; the last layer writes channel by channel, so each output channel
        # (the mean, the std) comes out contiguous for the elementwise work that follows
        inputs = torch.cat([features.movedim(1, -1), rendered.movedim(1, -1)], dim=-1)
        hidden_layer, out_layer = self.net.lins
        hidden = self.net.act(hidden_layer(inputs)).flatten(0, -2)
        out = torch.addmm(out_layer.bias.unsqueeze(1), out_layer.weight, hidden.t())  # [out_channels, positions]
        return out.reshape(out.size(0), features.size(0), *features.shape[2:]).movedim(0, 1)
