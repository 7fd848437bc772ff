import pytest
import torch
from helpers import batch_vector

from compvae_geo.layers import CorrelatedPartNormal, PartDistribution, PartGroupDiagonalFactorNormal, PartNormal

COUNTS = [2, 0, 3]  # the middle whole has no parts


def part_distributions():
    torch.manual_seed(0)
    batch, loc = batch_vector(COUNTS), torch.randn(5, 4)
    return [
        PartNormal(loc, torch.rand(5, 4) + 0.1, batch, len(COUNTS)),
        CorrelatedPartNormal(loc, torch.randn(5, 4), torch.randn(5, 4), batch, len(COUNTS)),
        PartGroupDiagonalFactorNormal(loc, torch.rand(5, 4) + 0.1, torch.randn(5, 4), torch.tensor([0, 0, 1, 2, 1]),
                                      batch, len(COUNTS)),
    ]


@pytest.mark.parametrize("dist", part_distributions(), ids=lambda d: type(d).__name__)
def test_every_part_distribution_shares_the_ragged_layout(dist):
    assert isinstance(dist, PartDistribution)
    assert dist.batch_shape == (len(COUNTS),) and dist.num_wholes == len(COUNTS)
    torch.testing.assert_close(dist.num_parts(), torch.tensor(COUNTS, dtype=torch.float))
    assert dist.log_prob(dist.sample((6,))).shape == (6, len(COUNTS))


def test_sum_per_whole_sums_the_parts_of_each_whole_along_any_dim():
    dist = part_distributions()[0]
    per_part = torch.arange(5.0)
    torch.testing.assert_close(dist.sum_per_whole(per_part), torch.tensor([0.0 + 1, 0, 2 + 3 + 4]))
    rows = torch.arange(10.0).reshape(5, 2)
    torch.testing.assert_close(dist.sum_per_whole(rows, dim=-2), torch.tensor([[2.0, 4], [0, 0], [18, 21]]))
    assert dist.standard_normal((7,)).shape == (7, 5, 4)


def invalid_arguments(validate_args):
    """Each distribution with a parameter outside its constraint (NaN mean, negative scale)."""
    batch, loc = batch_vector(COUNTS), torch.randn(5, 4)
    nan_loc = loc.clone()
    nan_loc[0, 0] = float("nan")
    negative = -torch.ones(5, 4)
    return {
        "PartNormal": lambda: PartNormal(loc, negative, batch, len(COUNTS), validate_args=validate_args),
        "CorrelatedPartNormal": lambda: CorrelatedPartNormal(nan_loc, torch.zeros(5, 4), torch.zeros(5, 4), batch,
                                                             len(COUNTS), validate_args=validate_args),
        "PartGroupDiagonalFactorNormal": lambda: PartGroupDiagonalFactorNormal(
            loc, negative, torch.zeros(5, 4), torch.arange(5), batch, len(COUNTS), validate_args=validate_args),
    }


@pytest.mark.parametrize("name", list(invalid_arguments(True)))
def test_validate_args_checks_the_arg_constraints_as_torch_distributions_do(name):
    with pytest.raises(ValueError, match="to satisfy the constraint"):
        invalid_arguments(True)[name]()
    invalid_arguments(False)[name]()  # unchecked: non-finite parameters propagate
    default = torch.distributions.Distribution._validate_args
    try:
        torch.distributions.Distribution.set_default_validate_args(False)
        invalid_arguments(None)[name]()  # follows torch's global default
        torch.distributions.Distribution.set_default_validate_args(True)
        with pytest.raises(ValueError):
            invalid_arguments(None)[name]()
    finally:
        torch.distributions.Distribution.set_default_validate_args(default)


@pytest.mark.parametrize("dist", part_distributions(), ids=lambda d: type(d).__name__)
def test_validate_args_checks_the_batch_vector_and_log_prob_values(dist):
    checked = type(dist).__new__(type(dist))
    checked.__dict__.update(dist.__dict__)
    checked._validate_args = True
    with pytest.raises(ValueError, match=r"value must be \(\.\.\., \|V\|, D\)"):
        checked.log_prob(torch.zeros(5, 3))
    with pytest.raises(ValueError, match="outside the support"):
        checked.log_prob(torch.full((5, 4), float("nan")))
    with pytest.raises(ValueError, match="one entry per part"):
        PartNormal(torch.zeros(5, 4), torch.ones(5, 4), torch.zeros(4, dtype=torch.long), validate_args=True)


def test_part_normal_abducts_the_standardised_latents():
    p = PartNormal(torch.tensor([[0.0], [5.0], [-3.0]]), torch.tensor([[1.0], [2.0], [0.5]]), torch.tensor([0, 0, 1]))
    value = torch.tensor([[1.0], [4.0], [-2.0]])
    own, shared = p.abduct(value)
    assert shared is None
    torch.testing.assert_close(own, torch.tensor([[1.0], [-0.5], [2.0]]))
    torch.testing.assert_close(p.from_noise(own), value)
