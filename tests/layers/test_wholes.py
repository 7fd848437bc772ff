"""The batch vector of a ragged batch of wholes: resolved, counted and checked at the boundaries."""
import pytest
import torch

from compvae_geo.layers.wholes import check_batch, count_wholes, resolve_batch


def test_no_batch_is_one_whole_of_every_part():
    batch, num_wholes = resolve_batch(None, 4, torch.device("cpu"))
    assert torch.equal(batch, torch.zeros(4, dtype=torch.long)) and num_wholes == 1


def test_wholes_are_counted_from_the_batch_unless_given():
    assert count_wholes(torch.tensor([0, 0, 2]), None) == 3
    assert count_wholes(torch.tensor([0, 0, 2]), 5) == 5  # trailing empty wholes
    assert count_wholes(torch.zeros(0, dtype=torch.long), None) == 0
    assert resolve_batch(torch.tensor([1, 1]), 2, torch.device("cpu"), 4)[1] == 4


@pytest.mark.parametrize("batch", [[0, 3], [3], [-1, 0], [-1]], ids=["past the last", "one part past the last",
                                                                     "negative", "one negative part"])
def test_a_batch_value_outside_the_wholes_is_refused(batch):
    with pytest.raises(ValueError, match=r"^batch values must lie in \[0, 3\), got \["):
        check_batch(torch.tensor(batch), len(batch), 3)
    check_batch(torch.tensor([0, 2]), 2, 3)  # the last whole is in range


def test_a_batch_of_another_dtype_is_refused():
    with pytest.raises(ValueError, match="^batch must be a LongTensor, got torch.float32$"):
        check_batch(torch.tensor([0.0, 1.0]), 2, 2)
