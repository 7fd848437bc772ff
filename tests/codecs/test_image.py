"""CompVAE on image wholes with part descriptors (the 2D sites problem), through the same class."""
import pytest
import torch
from helpers import assert_loss_permutation_invariant_and_batched_like_one_by_one

from compvae_geo import CompVAE, CompVAEConfig, LatentNoise
from compvae_geo.codecs.image import ImageDecoder, ImageEncoder
from compvae_geo.datasets import SiteParts
from compvae_geo.problems import model_config_for

PROBLEM = SiteParts(size=16)
CONFIG = model_config_for(PROBLEM, w_dim=4, z_dim=3, hidden_dim=16, x_feature_dim=8, part_embed_dim=5,
                          num_update_layers=1)


def test_codec_shapes_and_one_std_per_pixel_shared_by_the_channels():
    torch.manual_seed(0)
    encoder, decoder = ImageEncoder((3, 16, 16), 8, 16), ImageDecoder(5, (3, 16, 16), 16)
    assert encoder(torch.rand(2, 3, 16, 16)).shape == (2, 8)
    loc, raw_scale = decoder(torch.randn(2, 5))
    assert loc.shape == (2, 3, 16, 16) and raw_scale.shape == (2, 1, 16, 16)
    model = CompVAE(CONFIG)
    std = model.decode(torch.randn(2, CONFIG.whole_latent_dim)).stddev
    assert std.shape == (2, 3, 16, 16)
    assert torch.equal(std[:, 0], std[:, 1]) and torch.equal(std[:, 0], std[:, 2])
    with pytest.raises(ValueError, match="multiples of 8"):
        ImageEncoder((3, 12, 12), 8, 16)


def test_loss_is_finite_permutation_invariant_and_batched_like_one_by_one():
    torch.manual_seed(0)
    model = CompVAE(CONFIG)
    data = PROBLEM.sample_batch(3, 4, generator=torch.Generator().manual_seed(1))
    noise = LatentNoise.sample(CONFIG, 3, data.num_nodes)
    terms = model.loss(data, noise)
    assert terms.elbo.shape == (3,) and torch.isfinite(terms.elbo).all()
    terms.elbo.mean().backward()
    assert_loss_permutation_invariant_and_batched_like_one_by_one(model, data, noise)


def test_generate_needs_the_site_locations():
    torch.manual_seed(0)
    model = CompVAE(CONFIG)
    images = model.generate(torch.tensor([0, 4]), 3, torch.tensor([[0.0, 0.5], [-0.5, 0.2]]))
    assert images.shape == (3, 3, 16, 16)
    with pytest.raises(ValueError, match="part_attr must have shape"):
        model.generate(torch.tensor([0, 4]), 3)
    assert isinstance(CONFIG, CompVAEConfig) and CONFIG.observation == "image"
