"""Configuration of the CompVAE model."""
from __future__ import annotations

from dataclasses import dataclass

from ..plain_config import PlainDataConfig

# The CompVAEConfig fields that a problem's data defines (compvae_geo.problems.model_config_for sets them).
DATA_DEFINED_MODEL_FIELDS = frozenset({"num_categories", "obs_shape", "part_attr_dim", "whole_attr_dim", "observation"})
# What model_config_for takes from the data: the fields above, which a model must fit, and noisy_wholes, a default of
# generate (not a flag of train; a run from a recorded configuration takes it from its data again)
FROM_DATA_MODEL_FIELDS = DATA_DEFINED_MODEL_FIELDS | {"noisy_wholes"}


@dataclass
class CompVAEConfig(PlainDataConfig):
    """Sizes and constants of a :class:`~compvae_geo.CompVAE`; saved inside every checkpoint."""

    num_categories: int = 10  # number of part categories (the 1D problem: 10 frequencies)
    obs_shape: tuple[int, ...] = (200,)  # shape of one whole x (the 1D problem: T = 200 samples)
    part_attr_dim: int = 0  # continuous descriptors per part (0: parts are categories only)
    # conditions a user may know about a whole (households: day type, mean temperature), read by q(z | x, c),
    # p(z | w~, c) and p(x | z, w~, c) when given; when not, the model treats them as unknown (0: none)
    whole_attr_dim: int = 0
    observation: str = "curve"  # x-encoder/x-decoder family, a key of compvae_geo.codecs.CODECS
    # the data's wholes carry fine-scale noise that is part of what they are (a household's quarter-hour spikes,
    # recorded load): generate draws p(x | ...) by default instead of its mean (set from the data by model_config_for)
    noisy_wholes: bool = False
    w_dim: int = 32  # size of each part latent w_i (and of their sum w~)
    z_dim: int = 16  # size of the global latent z (0: no z, x from w~ alone: the ablation of paper 3.1)
    prior_sees_count: bool = False  # p(w_i | l_i, K): the prior also reads 1/K, K the number of parts of the whole
    # p(w_i | l_i, m_i): the parts of a whole that share a category (m_i of them) also share a factor per
    # coordinate (PartGroupDiagonalFactorNormal), so equal parts are drawn together; L_w stays in closed form
    prior_group_factor: bool = False
    # > 0: p(w_i | l_i, {l_j}): the part prior also reads the rest of its multiset through this many
    # residual PartUpdateConv layers on the prior's part embeddings (0: each part alone, the paper)
    prior_context_layers: int = 0
    # z first: p(z | {l_i}, c) reads the multiset (a mean of part embeddings and 1/(K+1)) instead of w~, and the part
    # prior p(w_i | l_i, z) reads z, so what the parts of a whole share (the day's weather) is drawn once, in z,
    # and moves every part (False: the paper's order, w_i first and p(z | w~))
    z_first: bool = False
    hidden_dim: int = 128  # width of the hidden layers of every network
    x_feature_dim: int = 64  # size of pre(x), the summary of x fed to q(z|x) and the part nodes
    part_embed_dim: int = 32  # size of the part embedding e(l)
    num_update_layers: int = 3  # eq. (5) message-passing layers in q({w_i} | x, z, {l_i})
    # > 0: w~ also holds the parts' rendered sum, each part's (w_i, e(l_i)) drawn on the whole's grid
    # (time steps, pixels) in this many channels by a per-part network, then summed (0: the paper's w~)
    render_channels: int = 0
    render_hidden_dim: int = 32  # width of the part renderer and of the decoder's pointwise head
    count_channel: bool = True  # w~ also holds the number of parts K (a constant 1 summed over parts)
    # p(x | ...) composes: the decoder reads w~ and the rendered sum per part (divided by K, with 1/K) and the whole's
    # mean and variance are K times its output (PerPartObservation), so that a whole scales with its number of parts
    # beyond the K of training (needs count_channel; False: the decoder reads w~ as it is)
    per_part_decoder: bool = False
    # with per_part_decoder: each part is a Gaussian that jumps at random at each step (a kettle, an EV charging) and
    # the whole is the exact law of a sum of K of them (PerPartJumpObservation; False: Gaussian parts)
    observation_jumps: bool = False
    # with observation_jumps: the kinds of jump M, all of a whole's jumps at one element of one kind (JumpKindsNormal):
    # one household's law then has jumps of M sizes, an 11 kW wallbox and a 2 kW kettle (1: one Gaussian jump size)
    jump_kinds: int = 1
    # with observation_jumps and render_channels: the jump network also reads the rendered sum per part at each element
    # (as the decoder's mean does), so that a part's latent can say when its jumps happen (False: the latent alone)
    jumps_read_render: bool = False
    # the latent side reads the number of parts K: p(z | {l_i}, c) its 1/(K+1) (unless z_prior_sees_count says), the
    # group prior each group's 1/m_i, and the x-encoder the whole as it is. False (needs per_part_decoder): z and the
    # part latents of the same proportions of parts are drawn alike for any K, and the encoder reads the whole per part
    # x/K (read as 1/(K+1) by z's prior, K drifted the daily energy per household by +17 % at 2-4x the training K,
    # docs/experiments.md)
    sees_count: bool = True
    # p(z | {l_i}, c) reads 1/(K+1) (None: as sees_count). True with sees_count False: the group prior and the encoder
    # stay blind to K while z's prior tells a lone part's day from a feeder's (their posteriors of z differ)
    z_prior_sees_count: bool | None = None
    # with per_part_decoder: the decoder (and the jump network) also reads 1/K. False: K only scales the per-part law,
    # and (with sees_count False) the whole of r copies of a multiset is r times its whole
    decoder_sees_count: bool = True
    gated_node_features: bool = True  # add pre(x) * G e(l_i) to the node state: lets part i read its own share of x
    node_noise_std: float = 1.0  # std of the noise added to e(l_i) so that equal parts can differ
    prior_scale_floor: float = 1e-2  # smooth lower bound of the stds of p(w|l) and p(z|w~) (paper 3.3)
    observation_scale_floor: float = 1e-2  # smooth lower bound of the std of p(x | z, w~)
    posterior_scale_floor: float = 1e-4  # keeps the std of q(z|x) away from 0 (log 0)

    @property
    def whole_latent_dim(self) -> int:
        """Size of the vector part of w~ (what p(z | w~) reads).

        ``w_dim``, plus one for the part count with ``count_channel``; the rendered sum, with ``render_channels``, comes
        after it.
        """
        return self.w_dim + int(self.count_channel)

    @property
    def condition_dim(self) -> int:
        """Size of the condition features (0 without ``whole_attr_dim``).

        The ``whole_attr_dim`` values and a flag saying whether they are known.
        """
        return self.whole_attr_dim + 1 if self.whole_attr_dim else 0

    def __post_init__(self) -> None:
        self.obs_shape = tuple(int(size) for size in self.obs_shape)
        if self.z_prior_sees_count is None:
            self.z_prior_sees_count = self.sees_count
        self.check_finite()
        for name in ("num_categories", "w_dim", "hidden_dim", "x_feature_dim", "part_embed_dim"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if min(self.part_attr_dim, self.whole_attr_dim, self.num_update_layers, self.z_dim, self.render_channels,
               self.prior_context_layers) < 0:
            raise ValueError("part_attr_dim, whole_attr_dim, num_update_layers, z_dim, render_channels and "
                             "prior_context_layers must be >= 0")
        if self.render_hidden_dim < 1:
            raise ValueError(f"render_hidden_dim must be >= 1, got {self.render_hidden_dim}")
        if self.z_first and not self.z_dim:
            raise ValueError("z_first needs a z (z_dim > 0)")
        if self.per_part_decoder and not self.count_channel:
            raise ValueError("per_part_decoder reads the number of parts from the count channel: needs count_channel")
        if self.observation_jumps and not self.per_part_decoder:
            raise ValueError("observation_jumps gives the law of a sum of parts: needs per_part_decoder")
        if self.jump_kinds < 1 or (self.jump_kinds > 1 and not self.observation_jumps):
            raise ValueError(f"jump_kinds must be >= 1, and > 1 needs observation_jumps; got {self.jump_kinds}")
        if self.jumps_read_render and not (self.observation_jumps and self.render_channels):
            raise ValueError("jumps_read_render reads the rendered parts into the jump law: needs observation_jumps "
                             "and render_channels > 0")
        if not (self.sees_count and self.decoder_sees_count) and not self.per_part_decoder:
            raise ValueError("a model that does not see the number of parts (sees_count or decoder_sees_count False) "
                             "scales its whole with it: needs per_part_decoder")
        if not self.sees_count and self.prior_sees_count:
            raise ValueError("prior_sees_count reads 1/K: it contradicts sees_count False")
        if not self.obs_shape or min(self.obs_shape) < 1:
            raise ValueError(f"obs_shape must be non-empty with positive sizes, got {self.obs_shape}")
        if min(self.prior_scale_floor, self.observation_scale_floor, self.posterior_scale_floor) <= 0:
            raise ValueError("scale floors must be > 0")
