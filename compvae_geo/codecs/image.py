"""x-encoder, x-decoder and part renderer for image wholes ``[C, H, W]`` (convolutional)."""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch_geometric.nn import MLP

from .part_renderer import PartRenderer
from .pointwise_head import PointwiseHead

NUM_RESOLUTIONS = 3  # the encoder halves H and W this many times (32 x 32 -> 4 x 4); the decoder doubles back
KERNEL, STRIDE, PADDING = 4, 2, 1  # a 4x4 stride-2 convolution halves the size exactly
# Parts are rendered at 1/RENDER_DOWNSCALE of the image size, then their sum is upsampled
# (bilinear: linear, so upsampling the sum equals summing the upsampled parts); 10x cheaper at 32 x 32.
RENDER_DOWNSCALE = 2


def _channels(hidden_dim: int) -> list[int]:
    """Feature maps per resolution: hidden_dim / 4, / 2, / 1 (32, 64, 128 for hidden_dim = 128)."""
    return [max(hidden_dim // 2 ** (NUM_RESOLUTIONS - 1 - i), 1) for i in range(NUM_RESOLUTIONS)]


def _check_image_shape(obs_shape: tuple[int, ...]) -> tuple[int, int, int]:
    factor = 2**NUM_RESOLUTIONS
    if len(obs_shape) != 3 or obs_shape[1] % factor or obs_shape[2] % factor:
        raise ValueError(f"the image codec needs obs_shape (C, H, W) with H and W multiples of {factor}, "
                         f"got {tuple(obs_shape)}")
    return obs_shape


class ImageEncoder(nn.Module):
    """pre(x): an image ``[B, C, H, W]`` to a feature vector ``[B, out_dim]`` (strided convolutions)."""

    def __init__(self, obs_shape: tuple[int, ...], out_dim: int, hidden_dim: int) -> None:
        super().__init__()
        channels, height, width = _check_image_shape(obs_shape)
        layers, previous = [], channels
        for width_out in _channels(hidden_dim):
            layers += [nn.Conv2d(previous, width_out, KERNEL, STRIDE, PADDING), nn.ReLU()]
            previous = width_out
        factor = 2**NUM_RESOLUTIONS
        flat = previous * (height // factor) * (width // factor)
        self.net = nn.Sequential(*layers, nn.Flatten(), nn.Linear(flat, out_dim))

    def forward(self, whole: Tensor) -> Tensor:
        """Images ``[B, C, H, W]`` to features ``[B, out_dim]``."""
        return self.net(whole)


class ImageDecoder(nn.Module):
    """A latent ``[B, in_dim]`` to the mean ``[B, C, H, W]`` and the raw std ``[B, 1, H, W]`` of the image.

    One std per pixel, shared by the channels (paper section 4.2).

    With ``render_channels > 0`` it also reads the parts' rendered sum ``[B, render_channels, H, W]``
    (:class:`ImagePartRenderer`): the convolutions then give ``render_channels`` feature maps, and
    a :class:`PointwiseHead` maps them, with the rendered sum, to the mean and std of each pixel.
    """

    def __init__(self, in_dim: int, obs_shape: tuple[int, ...], hidden_dim: int,
                 render_channels: int = 0, render_hidden_dim: int = 0) -> None:
        super().__init__()
        self.channels, height, width = _check_image_shape(obs_shape)
        factor = 2**NUM_RESOLUTIONS
        widths = _channels(hidden_dim)[::-1]
        self.start_shape = (widths[0], height // factor, width // factor)
        layers = [nn.Linear(in_dim, widths[0] * (height // factor) * (width // factor)), nn.ReLU(),
                  nn.Unflatten(1, self.start_shape)]
        for width_in, width_out in zip(widths, widths[1:]):
            layers += [nn.ConvTranspose2d(width_in, width_out, KERNEL, STRIDE, PADDING), nn.ReLU()]
        outputs = self.channels + 1  # the mean of each channel, one raw std
        layers.append(nn.ConvTranspose2d(widths[-1], render_channels or outputs, KERNEL, STRIDE, PADDING))
        self.net = nn.Sequential(*layers)
        self.head = None
        if render_channels:
            self.head = PointwiseHead(render_channels, render_channels, render_hidden_dim, outputs)

    def forward(self, latent: Tensor, rendered: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """The mean ``[B, C, H, W]`` and raw std ``[B, 1, H, W]`` of x."""
        out = self.net(latent)
        if self.head is not None:
            out = self.head(out, F.interpolate(rendered, size=out.shape[2:], mode="bilinear", align_corners=True))
        return out[:, : self.channels], out[:, self.channels:]


class ImagePartRenderer(PartRenderer):
    """Draws each part on the pixel grid of its whole (spatial broadcast).

    One part's features ``[N, in_dim]`` (its latent and embedding) to its own feature maps
    ``[N, channels, H / RENDER_DOWNSCALE, W / RENDER_DOWNSCALE]``, to be summed over the parts of
    each whole (:class:`ImageDecoder` upsamples the sum to the image size).

    Spatial broadcast: at each pixel, an MLP of the part's features and the pixel's coordinates
    (in [-1, 1], corners included); the first layer is split into a per-part and a per-pixel term,
    so the cost is one small MLP per (part, pixel) pair, linear in the number of parts.
    """

    def __init__(self, in_dim: int, obs_shape: tuple[int, ...], hidden_dim: int, channels: int) -> None:
        super().__init__()
        _, height, width = _check_image_shape(obs_shape)
        height, width = height // RENDER_DOWNSCALE, width // RENDER_DOWNSCALE
        self.grid_shape = (height, width)
        self.channels = channels
        rows, columns = torch.meshgrid(torch.linspace(-1, 1, height), torch.linspace(-1, 1, width), indexing="ij")
        self.register_buffer("pixels", torch.stack([columns, rows], dim=-1).reshape(-1, 2), persistent=False)
        self.part_term = nn.Linear(in_dim, hidden_dim)
        self.pixel_term = nn.Linear(2, hidden_dim, bias=False)
        self.net = MLP([hidden_dim, hidden_dim, channels], norm=None)

    def forward(self, features: Tensor) -> Tensor:
        """Part features ``[N, in_dim]`` to ``[N, channels, *grid_shape]``."""
        hidden = torch.relu(self.part_term(features).unsqueeze(1) + self.pixel_term(self.pixels))  # [N, HW, hidden]
        return self.net(hidden).transpose(1, 2).reshape(features.size(0), self.channels, *self.grid_shape)
