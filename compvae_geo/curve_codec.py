"""x-encoder and x-decoder for 1D wholes (curves of T samples)."""
from __future__ import annotations

import math

from torch import Tensor, nn
from torch_geometric.nn import MLP


class CurveEncoder(nn.Module):
    """pre(x): a curve ``[B, T]`` to a feature vector ``[B, out_dim]``."""

    def __init__(self, obs_shape: tuple[int, ...], out_dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.net = MLP([math.prod(obs_shape), hidden_dim, hidden_dim, out_dim], norm=None)

    def forward(self, whole: Tensor) -> Tensor:
        return self.net(whole.flatten(1))


class CurveDecoder(nn.Module):
    """A latent ``[B, in_dim]`` to the mean and raw (unfloored) std of x, each ``[B, T]``."""

    def __init__(self, in_dim: int, obs_shape: tuple[int, ...], hidden_dim: int) -> None:
        super().__init__()
        self.obs_shape = tuple(obs_shape)
        self.net = MLP([in_dim, hidden_dim, hidden_dim, 2 * math.prod(obs_shape)], norm=None)

    def forward(self, latent: Tensor) -> tuple[Tensor, Tensor]:
        loc, raw_scale = self.net(latent).chunk(2, dim=-1)
        shape = (latent.size(0), *self.obs_shape)
        return loc.reshape(shape), raw_scale.reshape(shape)
