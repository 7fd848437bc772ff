"""The part prior: computed once per distinct (category, group size) where nothing else can change it."""
import pytest
import torch
from helpers import batch_vector

from compvae_geo import CompVAEConfig
from compvae_geo.layers import groups_of_equal_parts
from compvae_geo.models.gaussian import split_loc_scale
from compvae_geo.models.part_prior import PartPrior
from compvae_geo.validation import Multisets

COUNTS = [4, 1, 0, 6, 3]  # mixed K, an empty whole, repeated categories within wholes


def per_part_params(prior: PartPrior, part: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
    """The prior's network run on every part, as the paper writes p(w_i | l_i): the oracle."""
    embedding = prior.embedding(part, None)
    if prior.group_size is not None:
        _, size = groups_of_equal_parts(part, batch)
        embedding = embedding + prior.group_size(size.float().reciprocal().unsqueeze(-1))
    return prior.head(embedding)


@pytest.mark.parametrize("group_factor", [False, True], ids=["independent", "group factor"])
def test_a_prior_of_categories_alone_equals_its_network_run_on_every_part(group_factor):
    torch.manual_seed(0)
    config = CompVAEConfig(num_categories=4, w_dim=3, hidden_dim=8, part_embed_dim=5, prior_group_factor=group_factor)
    prior = PartPrior(config)
    batch = batch_vector(COUNTS)
    part = torch.randint(0, 4, (batch.numel(),))
    dist = prior(Multisets.of(part, batch=batch, num_wholes=len(COUNTS)))
    expected = per_part_params(prior, part, batch)
    if group_factor:
        expected, loading = expected.split([2 * config.w_dim, config.w_dim], dim=-1)
        torch.testing.assert_close(dist.loading, loading)
    loc, scale = split_loc_scale(expected, config.prior_scale_floor)
    torch.testing.assert_close(dist.loc, loc)
    torch.testing.assert_close(dist.scale, scale)
    upstream = torch.randn_like(loc)
    got = torch.autograd.grad((dist.loc * upstream).sum() + dist.scale.sum(), list(prior.parameters()))
    want = torch.autograd.grad((loc * upstream).sum() + scale.sum(), list(prior.parameters()))
    for got_gradient, want_gradient in zip(got, want, strict=True):
        torch.testing.assert_close(got_gradient, want_gradient, rtol=1e-5, atol=1e-6)


def test_a_prior_that_reads_z_refuses_to_run_without_it():
    prior = PartPrior(CompVAEConfig(num_categories=3, w_dim=2, hidden_dim=4, part_embed_dim=3), reads_z=True)
    with pytest.raises(ValueError, match=r"^this part prior reads z \(z first\): pass the z of each whole$"):
        prior(Multisets.of(torch.tensor([0, 2]), batch=torch.tensor([0, 0]), num_wholes=1))


def test_a_single_descriptor_moves_the_prior():
    torch.manual_seed(0)
    prior = PartPrior(CompVAEConfig(num_categories=3, w_dim=2, hidden_dim=4, part_embed_dim=3, part_attr_dim=1))
    part, batch = torch.tensor([1, 1]), torch.tensor([0, 1])
    dist = prior(Multisets.of(part, torch.tensor([[0.0], [2.0]]), batch, 2))
    assert not torch.allclose(dist.loc[0], dist.loc[1])  # the same category, another descriptor


def test_the_context_layers_are_built_at_once_unless_deferred():
    config = CompVAEConfig(num_categories=3, w_dim=2, hidden_dim=4, part_embed_dim=3, prior_context_layers=2)
    assert PartPrior(config).context is not None
    deferred = PartPrior(config, build_context=False)
    assert deferred.context is None
    deferred.build_context()
    assert deferred.context is not None and PartPrior(CompVAEConfig(num_categories=3)).context is None
