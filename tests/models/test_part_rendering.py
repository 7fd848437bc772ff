"""Rendered part sums (``render_channels > 0``).

W~ also holds the sum over the parts of each part's own rendering on the whole's grid. Its math against a
one-part-at-a-time oracle, its symmetries, and that the decoder reads it, on both problems (curves and images).
"""
import pytest
import torch
from helpers import assert_loss_permutation_invariant_and_batched_like_one_by_one

from compvae_geo import CompVAE, CompVAEConfig, LatentNoise
from compvae_geo.codecs import PointwiseHead
from compvae_geo.codecs.image import RENDER_DOWNSCALE, ImagePartRenderer
from compvae_geo.datasets import SineParts, SiteParts
from compvae_geo.evaluation.figures import recomposition_figure, reconstruction_figure
from compvae_geo.problems import model_config_for

SIZES = dict(w_dim=4, z_dim=3, hidden_dim=16, x_feature_dim=8, part_embed_dim=5, num_update_layers=1,
             render_channels=3, render_hidden_dim=6)
PROBLEMS = {"curves": SineParts(length=20), "images": SiteParts(size=16)}


@pytest.fixture(params=list(PROBLEMS), ids=list(PROBLEMS))
def setup(request):
    problem = PROBLEMS[request.param]
    torch.manual_seed(0)
    model = CompVAE(model_config_for(problem, **SIZES))
    data = problem.sample_batch(4, 5, generator=torch.Generator().manual_seed(1))
    return problem, model, data


def parts_of(data):
    return data.part, getattr(data, "part_attr", None)


def test_w_tilde_sums_each_part_rendered_alone(setup):
    _, model, data = setup
    part, part_attr = parts_of(data)
    w = torch.randn(data.num_nodes, model.config.w_dim)
    w_tilde = model.sum_parts(w, data.batch, data.num_graphs, part, part_attr)
    expected = torch.zeros_like(w_tilde)
    for i in range(data.num_nodes):  # one part at a time, through the renderer alone
        attr = None if part_attr is None else part_attr[i:i + 1]
        rendered = model.part_renderer(torch.cat([w[i:i + 1], model.render_embedding(part[i:i + 1], attr)], -1))
        expected[data.batch[i]] += torch.cat([w[i], torch.ones(1), rendered.flatten()])
    torch.testing.assert_close(w_tilde, expected, rtol=1e-5, atol=1e-5)
    grid = tuple(model.part_renderer.grid_shape)
    _, rendered = model.split_whole_latent(w_tilde)
    assert rendered.shape == (data.num_graphs, model.config.render_channels, *grid)


def test_w_tilde_of_a_union_is_the_sum_of_the_w_tildes(setup):
    _, model, data = setup
    part, part_attr = parts_of(data)
    w = torch.randn(data.num_nodes, model.config.w_dim)
    first = torch.arange(data.num_nodes) % 2 == 0

    def w_tilde(chosen):
        return model.sum_parts(w[chosen], data.batch[chosen], data.num_graphs, part[chosen],
                               None if part_attr is None else part_attr[chosen])

    torch.testing.assert_close(w_tilde(first) + w_tilde(~first), w_tilde(torch.ones_like(first)), rtol=1e-5, atol=1e-5)


def test_loss_is_permutation_invariant_and_batched_equals_one_by_one(setup):
    _, model, data = setup
    noise = LatentNoise.sample(model.config, data.num_graphs, data.num_nodes)
    terms = model.loss(data, noise)
    assert torch.isfinite(terms.elbo).all()
    assert_loss_permutation_invariant_and_batched_like_one_by_one(model, data, noise)


def test_decoder_reads_the_rendered_sum_and_p_z_reads_only_the_vector(setup):
    _, model, data = setup
    part, part_attr = parts_of(data)
    w_tilde = model.sum_parts(torch.randn(data.num_nodes, model.config.w_dim), data.batch, data.num_graphs,
                              part, part_attr)
    moved = w_tilde.clone()
    moved[:, model.config.whole_latent_dim:] += 1.0  # the rendered sum only
    z = torch.randn(data.num_graphs, model.config.z_dim)
    assert not torch.allclose(model.decode(moved, z).mean, model.decode(w_tilde, z).mean)
    no_conditions = model.conditions(None, w_tilde)
    moved_prior, prior = model.z_prior(None, no_conditions, moved), model.z_prior(None, no_conditions, w_tilde)
    torch.testing.assert_close(moved_prior.loc, prior.loc)


def test_training_gradient_reaches_the_renderer(setup):
    _, model, data = setup
    model.loss(data).elbo.mean().backward()
    for module in (model.part_renderer, model.render_embedding, model.observation.decoder.head):
        assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in module.parameters())
        assert sum(p.grad.abs().sum() for p in module.parameters()) > 0


def test_sum_parts_without_the_parts_is_a_clear_error(setup):
    _, model, _ = setup
    with pytest.raises(ValueError, match="pass their categories"):
        model.sum_parts(torch.randn(2, model.config.w_dim))


def test_generate_figures_and_checkpoint_round_trip(setup, tmp_path):
    problem, model, data = setup
    single = data.to_data_list()[0]
    part, part_attr = single.part, getattr(single, "part_attr", None)
    torch.manual_seed(3)
    wholes = model.generate(part, 4, part_attr)
    assert wholes.shape == (4, *problem.obs_shape) and torch.isfinite(wholes).all()
    assert model.generate(part[:0], 2, None if part_attr is None else part_attr[:0]).shape == (2, *problem.obs_shape)
    recomposition_figure(model, part, part_attr)
    reconstruction_figure(model, data, num_wholes=2)
    model.save(tmp_path / "model.pt")
    loaded = CompVAE.load(tmp_path / "model.pt")
    torch.manual_seed(3)
    torch.testing.assert_close(loaded.generate(part, 4, part_attr), wholes)


def test_a_config_saved_before_rendering_existed_loads_as_the_paper_model():
    values = CompVAEConfig().to_dict()
    for name in ("render_channels", "render_hidden_dim"):
        values.pop(name)
    model = CompVAE(CompVAEConfig.from_dict(values))
    assert model.part_renderer is None and model.observation.decoder.head is None
    with pytest.raises(ValueError, match="render_channels"):
        CompVAEConfig(render_channels=-1)


def test_pointwise_head_acts_on_each_position_alone():
    torch.manual_seed(0)
    head = PointwiseHead(2, 3, 8, 4)
    features, rendered = torch.randn(2, 2, 5, 6), torch.randn(2, 3, 5, 6)
    out = head(features, rendered)
    assert out.shape == (2, 4, 5, 6)
    shuffle = torch.randperm(30)
    scrambled = head(features.flatten(2)[..., shuffle].unflatten(2, (5, 6)),
                     rendered.flatten(2)[..., shuffle].unflatten(2, (5, 6)))
    torch.testing.assert_close(scrambled.flatten(2), out.flatten(2)[..., shuffle])
    row, column = 3, 4  # one position: the MLP of its channels
    alone = head.net(torch.cat([features[:, :, row, column], rendered[:, :, row, column]], dim=1))
    torch.testing.assert_close(out[:, :, row, column], alone)
    with pytest.raises(ValueError, match="share the grid"):
        head(features, rendered[..., :3])


def test_image_renderer_draws_each_part_alone_at_reduced_resolution():
    torch.manual_seed(0)
    renderer = ImagePartRenderer(7, (3, 16, 16), 8, 2)
    features = torch.randn(5, 7)
    maps = renderer(features)
    assert maps.shape == (5, 2, 16 // RENDER_DOWNSCALE, 16 // RENDER_DOWNSCALE)
    torch.testing.assert_close(renderer(features[3:4]), maps[3:4])
    assert not torch.allclose(maps[:, :, 0, 0], maps[:, :, -1, -1])  # the maps depend on the pixel


def test_a_curve_model_without_rendering_keeps_its_parameters():
    plain = CompVAE(CompVAEConfig(obs_shape=(20,), w_dim=4, z_dim=3, hidden_dim=16))
    rendered = CompVAE(CompVAEConfig(obs_shape=(20,), w_dim=4, z_dim=3, hidden_dim=16, render_channels=2))
    new = set(rendered.state_dict()) - set(plain.state_dict())
    assert new and all(name.split(".")[0] in {"part_renderer", "render_embedding", "observation"} for name in new)
    assert set(plain.state_dict()) <= set(rendered.state_dict())
