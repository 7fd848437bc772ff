"""The observation families a model can be configured with.

An x-encoder, an x-decoder and a part renderer per family, chosen by name (``CompVAEConfig.observation``,
``PartsProblem.observation``).

The family of a whole is told here and only here (:func:`get_codec`).
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from .curve import CurveDecoder, CurveEncoder, CurvePartRenderer
from .image import ImageDecoder, ImageEncoder, ImagePartRenderer
from .pointwise_head import PointwiseHead

CURVE, IMAGE = "curve", "image"


@dataclass(frozen=True)
class Codec:
    """One observation family.

    An encoder maps ``[B, *obs_shape]`` to ``[B, out_dim]``; a decoder maps ``[B, in_dim]`` (and,
    with render channels, the rendered sum of the parts) to (mean, raw std), each broadcastable to
    ``[B, *obs_shape]``; a renderer maps part features ``[N, in_dim]`` to ``[N, channels, *grid]``
    on the grid of the whole.
    """

    name: str
    encoder: type[nn.Module]
    decoder: type[nn.Module]
    renderer: type[nn.Module]
    curves: bool  # wholes are 1D curves [T] (drawn as lines, compared by power spectrum), else images [C, H, W]

    def build(
        self, obs_shape: tuple[int, ...], feature_dim: int, latent_dim: int, hidden_dim: int,
        render_channels: int = 0, render_hidden_dim: int = 0,
    ) -> tuple[nn.Module, nn.Module]:
        """The (x-encoder, x-decoder) pair.

        The decoder also reads a rendered sum of ``render_channels`` channels when that is > 0.
        """
        return (self.encoder(obs_shape, feature_dim, hidden_dim),
                self.decoder(latent_dim, obs_shape, hidden_dim, render_channels, render_hidden_dim))

    def build_renderer(self, obs_shape: tuple[int, ...], in_dim: int, hidden_dim: int, channels: int) -> nn.Module:
        """The part renderer: part features ``[N, in_dim]`` to ``[N, channels, *grid]``."""
        return self.renderer(in_dim, obs_shape, hidden_dim, channels)


CODECS: dict[str, Codec] = {
    CURVE: Codec(CURVE, CurveEncoder, CurveDecoder, CurvePartRenderer, curves=True),
    IMAGE: Codec(IMAGE, ImageEncoder, ImageDecoder, ImagePartRenderer, curves=False),
}


def get_codec(name: str) -> Codec:
    """The codec registered under ``name`` (a key of :data:`CODECS`)."""
    if name not in CODECS:
        raise ValueError(f"unknown observation {name!r}; known: {sorted(CODECS)}")
    return CODECS[name]


__all__ = ["CODECS", "CURVE", "IMAGE", "Codec", "CurveDecoder", "CurveEncoder", "CurvePartRenderer", "ImageDecoder",
           "ImageEncoder", "ImagePartRenderer", "PointwiseHead", "get_codec"]
