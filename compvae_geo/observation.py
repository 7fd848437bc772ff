"""The x-encoder / x-decoder / part-renderer families a CompVAE can be configured with."""
from __future__ import annotations

from torch import nn

from .curve_codec import CurveDecoder, CurveEncoder, CurvePartRenderer
from .image_codec import ImageDecoder, ImageEncoder, ImagePartRenderer

# name -> (encoder class, decoder class, part renderer class). An encoder maps [B, *obs_shape] to
# [B, out_dim]; a decoder maps [B, in_dim] (and, with render channels, the rendered sum of the
# parts) to (mean, raw std), each broadcastable to [B, *obs_shape]; a renderer maps part features
# [N, in_dim] to [N, channels, *grid] on the grid of the whole.
OBSERVATION_CODECS: dict[str, tuple[type[nn.Module], type[nn.Module], type[nn.Module]]] = {
    "curve": (CurveEncoder, CurveDecoder, CurvePartRenderer),
    "image": (ImageEncoder, ImageDecoder, ImagePartRenderer),
}


def _classes(name: str) -> tuple[type[nn.Module], type[nn.Module], type[nn.Module]]:
    if name not in OBSERVATION_CODECS:
        raise ValueError(f"unknown observation {name!r}; known: {sorted(OBSERVATION_CODECS)}")
    return OBSERVATION_CODECS[name]


def build_codec(name: str, obs_shape: tuple[int, ...], feature_dim: int, latent_dim: int, hidden_dim: int,
                render_channels: int = 0, render_hidden_dim: int = 0):
    """The (x-encoder, x-decoder) pair registered under ``name``; the decoder also reads a rendered
    sum of ``render_channels`` channels when that is > 0."""
    encoder_cls, decoder_cls, _ = _classes(name)
    return (encoder_cls(obs_shape, feature_dim, hidden_dim),
            decoder_cls(latent_dim, obs_shape, hidden_dim, render_channels, render_hidden_dim))


def build_renderer(name: str, obs_shape: tuple[int, ...], in_dim: int, hidden_dim: int, channels: int) -> nn.Module:
    """The part renderer registered under ``name``: part features ``[N, in_dim]`` to ``[N, channels, *grid]``."""
    return _classes(name)[2](in_dim, obs_shape, hidden_dim, channels)
