"""The x-encoder / x-decoder families a CompVAE can be configured with."""
from __future__ import annotations

from torch import nn

from .curve_codec import CurveDecoder, CurveEncoder
from .image_codec import ImageDecoder, ImageEncoder

# name -> (encoder class, decoder class). An encoder maps [B, *obs_shape] to [B, out_dim];
# a decoder maps [B, in_dim] to (mean, raw std), each broadcastable to [B, *obs_shape].
OBSERVATION_CODECS: dict[str, tuple[type[nn.Module], type[nn.Module]]] = {
    "curve": (CurveEncoder, CurveDecoder),
    "image": (ImageEncoder, ImageDecoder),
}


def build_codec(name: str, obs_shape: tuple[int, ...], feature_dim: int, latent_dim: int, hidden_dim: int):
    """The (x-encoder, x-decoder) pair registered under ``name``."""
    if name not in OBSERVATION_CODECS:
        raise ValueError(f"unknown observation {name!r}; known: {sorted(OBSERVATION_CODECS)}")
    encoder_cls, decoder_cls = OBSERVATION_CODECS[name]
    return encoder_cls(obs_shape, feature_dim, hidden_dim), decoder_cls(latent_dim, obs_shape, hidden_dim)
