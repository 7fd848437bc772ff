"""x-encoder, x-decoder and part renderer for 1D wholes (curves of T samples)."""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch_geometric.nn import MLP
from torch_geometric.utils import scatter

from .part_renderer import PartRenderer
from .pointwise_head import PointwiseHead

OUTPUTS = 2  # per time step: the mean and the raw std of x


class CurveEncoder(nn.Module):
    """pre(x): a curve ``[B, T]`` to a feature vector ``[B, out_dim]``."""

    def __init__(self, obs_shape: tuple[int, ...], out_dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.net = MLP([math.prod(obs_shape), hidden_dim, hidden_dim, out_dim], norm=None)

    def forward(self, whole: Tensor) -> Tensor:
        """Curves ``[B, T]`` to features ``[B, out_dim]``."""
        return self.net(whole.flatten(1))


class CurveDecoder(nn.Module):
    """A latent ``[B, in_dim]`` to the mean and raw (unfloored) std of x, each ``[B, T]``.

    With ``render_channels > 0`` it also reads the parts' rendered sum ``[B, render_channels, T]``
    (:class:`CurvePartRenderer`): the MLP then gives ``render_channels`` features per time step,
    and a :class:`PointwiseHead` maps them, with the rendered sum, to the mean and std.
    """

    def __init__(self, in_dim: int, obs_shape: tuple[int, ...], hidden_dim: int,
                 render_channels: int = 0, render_hidden_dim: int = 0) -> None:
        super().__init__()
        self.obs_shape = tuple(obs_shape)
        self.channels = render_channels or OUTPUTS
        self.net = MLP([in_dim, hidden_dim, hidden_dim, self.channels * math.prod(obs_shape)], norm=None)
        self.head = None
        if render_channels:
            self.head = PointwiseHead(render_channels, render_channels, render_hidden_dim, OUTPUTS)

    def forward(self, latent: Tensor, rendered: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """The mean and raw std of x, each ``[B, T]``."""
        out = self.net(latent).reshape(latent.size(0), self.channels, *self.obs_shape)
        if self.head is not None:
            out = self.head(out, rendered)
        loc, raw_scale = out.unbind(1)
        return loc, raw_scale


class CurvePartRenderer(PartRenderer):
    r"""Draws each part on the time axis of its whole.

    One part's features ``[N, in_dim]`` (its latent and embedding) to its own curve-shaped
    feature map ``[N, channels, T]`` by a one-hidden-layer MLP, :math:`r(f) = W h(f) + b`, to be summed
    over the parts of each whole. Its last layer is linear, so :meth:`render_sum` sums the hidden
    layer instead, :math:`\sum_i r(f_i) = W \sum_i h(f_i) + K b` (K parts): the ``channels`` x T wide
    product then runs once per whole instead of once per part.
    """

    def __init__(self, in_dim: int, obs_shape: tuple[int, ...], hidden_dim: int, channels: int) -> None:
        super().__init__()
        self.grid_shape = tuple(obs_shape)
        self.channels = channels
        self.net = MLP([in_dim, hidden_dim, channels * math.prod(obs_shape)], norm=None)

    def forward(self, features: Tensor) -> Tensor:
        """Part features ``[N, in_dim]`` to ``[N, channels, T]``."""
        return self.net(features).reshape(features.size(0), self.channels, *self.grid_shape)

    def render_sum(self, features: Tensor, batch: Tensor, num_wholes: int) -> Tensor:
        """The sum over the parts of each whole of their renderings: ``[num_wholes, channels, T]``."""
        hidden_layer, out_layer = self.net.lins
        hidden = self.net.act(hidden_layer(features))
        summed = scatter(torch.cat([hidden, hidden.new_ones(hidden.size(0), 1)], -1), batch, dim=0,
                         dim_size=num_wholes, reduce="sum")  # sum of h(f_i), and K
        hidden_sum, count = summed[:, :-1], summed[:, -1:]
        rendered = torch.addmm(count * out_layer.bias, hidden_sum, out_layer.weight.t())
        return rendered.reshape(num_wholes, self.channels, *self.grid_shape)
