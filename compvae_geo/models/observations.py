"""The observation model a configuration asks for, built on a codec's decoder where a model is built."""
from __future__ import annotations

from torch import nn

from .config import CompVAEConfig
from .gaussian_observation import GaussianObservation
from .per_part_observation import PerPartJumpKindsObservation, PerPartJumpObservation, PerPartObservation


def decoder_input_dim(config: CompVAEConfig, latent_dim: int) -> int:
    """What the decoder reads for a latent of ``latent_dim``: one more (1/K) where a per-part decoder reads K."""
    return latent_dim + int(config.per_part_decoder and config.decoder_sees_count)


def build_observation(config: CompVAEConfig, decoder: nn.Module, decoder_dim: int, vector: slice) -> nn.Module:
    """The observation model of ``config`` on the codec's x-decoder ``decoder``, which reads ``decoder_dim`` inputs.

    :class:`GaussianObservation`, or with ``per_part_decoder`` :class:`PerPartObservation` (with
    ``observation_jumps`` :class:`PerPartJumpObservation`, and with ``jump_kinds`` > 1
    :class:`PerPartJumpKindsObservation`); ``vector``: where the part of the latent that a per-part
    decoder reads per part lies, its last column the number of parts K.
    """
    c = config
    if c.observation_jumps:
        jump_render = (c.render_channels, c.render_hidden_dim) if c.jumps_read_render else (0, 0)
        if c.jump_kinds > 1:
            return PerPartJumpKindsObservation(decoder, c.observation_scale_floor, vector, c.obs_shape, decoder_dim,
                                               c.hidden_dim, c.jump_kinds, c.decoder_sees_count, *jump_render)
        return PerPartJumpObservation(decoder, c.observation_scale_floor, vector, c.obs_shape, decoder_dim,
                                      c.hidden_dim, c.decoder_sees_count, *jump_render)
    if c.per_part_decoder:
        return PerPartObservation(decoder, c.observation_scale_floor, vector, c.decoder_sees_count)
    return GaussianObservation(decoder, c.observation_scale_floor)
