"""x-encoder and x-decoder for image wholes ``[C, H, W]`` (convolutional)."""
from __future__ import annotations

from torch import Tensor, nn

NUM_RESOLUTIONS = 3  # the encoder halves H and W this many times (32 x 32 -> 4 x 4); the decoder doubles back
KERNEL, STRIDE, PADDING = 4, 2, 1  # a 4x4 stride-2 convolution halves the size exactly


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
        self.net = nn.Sequential(*layers, nn.Flatten(), nn.Linear(previous * (height // factor) * (width // factor), out_dim))

    def forward(self, whole: Tensor) -> Tensor:
        return self.net(whole)


class ImageDecoder(nn.Module):
    """A latent ``[B, in_dim]`` to the mean ``[B, C, H, W]`` and the raw std ``[B, 1, H, W]`` of the
    image: one std per pixel, shared by the channels (paper section 4.2)."""

    def __init__(self, in_dim: int, obs_shape: tuple[int, ...], hidden_dim: int) -> None:
        super().__init__()
        self.channels, height, width = _check_image_shape(obs_shape)
        factor = 2**NUM_RESOLUTIONS
        widths = _channels(hidden_dim)[::-1]
        self.start_shape = (widths[0], height // factor, width // factor)
        layers = [nn.Linear(in_dim, widths[0] * (height // factor) * (width // factor)), nn.ReLU(),
                  nn.Unflatten(1, self.start_shape)]
        for width_in, width_out in zip(widths, widths[1:]):
            layers += [nn.ConvTranspose2d(width_in, width_out, KERNEL, STRIDE, PADDING), nn.ReLU()]
        layers.append(nn.ConvTranspose2d(widths[-1], self.channels + 1, KERNEL, STRIDE, PADDING))
        self.net = nn.Sequential(*layers)

    def forward(self, latent: Tensor) -> tuple[Tensor, Tensor]:
        out = self.net(latent)
        return out[:, : self.channels], out[:, self.channels:]
