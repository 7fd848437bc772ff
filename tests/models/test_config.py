"""CompVAEConfig refuses what no model can be built from, at its boundaries, with a message naming the field."""
import pytest

from compvae_geo.models.config import CompVAEConfig

SIZES = ("num_categories", "w_dim", "hidden_dim", "x_feature_dim", "part_embed_dim", "render_hidden_dim")
COUNTS = ("part_attr_dim", "whole_attr_dim", "num_update_layers", "z_dim", "render_channels", "prior_context_layers")
JUMPS_READ_RENDER = r"^jumps_read_render reads the rendered parts into the jump law: needs observation_jumps and " \
                    r"render_channels > 0$"
FLOORS = ("prior_scale_floor", "observation_scale_floor", "posterior_scale_floor")


@pytest.mark.parametrize("name", SIZES)
def test_a_size_is_at_least_one(name):
    assert getattr(CompVAEConfig(**{name: 1}), name) == 1
    with pytest.raises(ValueError, match=f"^{name} must be >= 1, got 0$"):
        CompVAEConfig(**{name: 0})


@pytest.mark.parametrize("name", COUNTS)
def test_a_count_may_be_zero_not_negative(name):
    assert getattr(CompVAEConfig(**{name: 0}), name) == 0
    with pytest.raises(ValueError, match=f"^{', '.join(COUNTS[:-1])} and {COUNTS[-1]} must be >= 0$"):
        CompVAEConfig(**{name: -1})


@pytest.mark.parametrize("name", FLOORS)
def test_a_scale_floor_is_positive(name):
    assert getattr(CompVAEConfig(**{name: 1e-9}), name) == 1e-9
    with pytest.raises(ValueError, match="^scale floors must be > 0$"):
        CompVAEConfig(**{name: 0.0})


@pytest.mark.parametrize("shape", [(), (0,), (3, 0)])
def test_obs_shape_is_non_empty_with_positive_sizes(shape):
    assert CompVAEConfig(obs_shape=(1, 1)).obs_shape == (1, 1)
    with pytest.raises(ValueError, match=r"^obs_shape must be non-empty with positive sizes, got \("):
        CompVAEConfig(obs_shape=shape)


@pytest.mark.parametrize(("options", "message"), [
    (dict(z_first=True, z_dim=0), r"^z_first needs a z \(z_dim > 0\)$"),
    (dict(per_part_decoder=True, count_channel=False), "^per_part_decoder reads the number of parts from the count "
                                                       "channel: needs count_channel$"),
    (dict(observation_jumps=True), "^observation_jumps gives the law of a sum of parts: needs per_part_decoder$"),
    (dict(sees_count=False), r"^a model that does not see the number of parts \(sees_count or decoder_sees_count "
                             "False\\) scales its whole with it: needs per_part_decoder$"),
    (dict(decoder_sees_count=False), r"^a model that does not see the number of parts \(sees_count or "
                                     "decoder_sees_count False\\) scales its whole with it: needs per_part_decoder$"),
    (dict(sees_count=False, per_part_decoder=True, prior_sees_count=True),
     "^prior_sees_count reads 1/K: it contradicts sees_count False$"),
    (dict(jumps_read_render=True, per_part_decoder=True, render_channels=4),
     JUMPS_READ_RENDER),
    (dict(jumps_read_render=True, per_part_decoder=True, observation_jumps=True),
     JUMPS_READ_RENDER),
    (dict(jump_kinds=2, per_part_decoder=True), r"^jump_kinds must be >= 1, and > 1 needs observation_jumps; got 2$"),
    (dict(jump_kinds=0, per_part_decoder=True, observation_jumps=True),
     r"^jump_kinds must be >= 1, and > 1 needs observation_jumps; got 0$"),
], ids=["z first without z", "per part without count", "jumps without per part", "blind without per part",
        "decoder blind without per part",
        "blind but the prior counts", "jumps reading renders without jumps", "jumps reading renders without renders",
        "jump kinds without jumps", "no jump kind"])
def test_options_that_contradict_each_other_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        CompVAEConfig(**options)


@pytest.mark.parametrize("sees_count", [True, False])
def test_z_prior_reads_k_as_the_latent_side_does_unless_told(sees_count):
    options = dict(sees_count=sees_count, per_part_decoder=True)
    assert CompVAEConfig(**options).z_prior_sees_count is sees_count
    assert CompVAEConfig(**options, z_prior_sees_count=not sees_count).z_prior_sees_count is (not sees_count)
    # a config saved with the field resolved reads back the same
    config = CompVAEConfig(**options)
    assert CompVAEConfig.from_dict(config.to_dict()) == config
