import pytest
import torch
from helpers import batch_vector, from_padded, to_padded
from torch import nn

from compvae_geo.layers import PartUpdateConv, PartUpdateStack

COUNTS = [3, 1, 0, 5, 2]  # mixed K, including an empty whole and a single part


def dense_update(layer: PartUpdateConv, x: torch.Tensor, counts: list[int]) -> torch.Tensor:
    """Eq. (5) on zero-padded wholes, the way the paper writes it: sum over j != i per whole."""
    padded, mask = to_padded(x, counts)
    messages = layer.g(padded) * mask.unsqueeze(-1)
    k_max = padded.size(1)
    others = (1 - torch.eye(k_max)).unsqueeze(0).expand(len(counts), -1, -1) @ messages  # sum_{j != i}
    return from_padded(layer.f(torch.cat([padded, others], dim=-1)), mask)


def test_matches_dense_oracle_for_mixed_k():
    torch.manual_seed(0)
    layer = PartUpdateConv(6, 8, message_channels=5)
    x = torch.randn(sum(COUNTS), 6)
    out = layer(x, batch_vector(COUNTS), num_wholes=len(COUNTS))
    assert out.shape == (sum(COUNTS), 8)
    torch.testing.assert_close(out, dense_update(layer, x, COUNTS), rtol=1e-5, atol=1e-5)


def test_folded_default_layer_has_the_gradients_of_the_plain_sum_of_messages():
    torch.manual_seed(7)
    folded = PartUpdateConv(6, 8, message_channels=5)
    plain = PartUpdateConv(6, 8, message_channels=5, f=folded.f, g=folded.g)  # the same modules, summed as written
    assert folded.folded and not plain.folded
    x, batch = torch.randn(sum(COUNTS), 6, requires_grad=True), batch_vector(COUNTS)
    upstream = torch.randn(sum(COUNTS), 8)  # d loss / d output
    gradients = [torch.autograd.grad((layer(x, batch, num_wholes=len(COUNTS)) * upstream).sum(),
                                     [x, *folded.parameters()]) for layer in (folded, plain)]
    for folded_gradient, plain_gradient in zip(*gradients, strict=True):
        torch.testing.assert_close(folded_gradient, plain_gradient, rtol=1e-5, atol=1e-5)


def test_single_whole_without_batch_vector():
    torch.manual_seed(1)
    layer = PartUpdateConv(4, 4)
    x = torch.randn(7, 4)
    torch.testing.assert_close(layer(x), layer(x, torch.zeros(7, dtype=torch.long)))


def test_single_part_sees_nothing():
    torch.manual_seed(2)
    layer = PartUpdateConv(3, 3)
    x = torch.randn(1, 3)
    expected = layer.f(torch.cat([x, torch.zeros(1, layer.message_channels)], dim=-1))
    torch.testing.assert_close(layer(x), expected)


def test_permuting_parts_permutes_outputs():
    torch.manual_seed(3)
    layer = PartUpdateConv(4, 4)
    counts = [4, 6]
    x, batch = torch.randn(10, 4), batch_vector(counts)
    perm = torch.cat([torch.randperm(4), 4 + torch.randperm(6)])
    torch.testing.assert_close(layer(x[perm], batch), layer(x, batch)[perm], rtol=1e-5, atol=1e-6)


def test_explicit_edge_index_sums_over_neighbours():
    torch.manual_seed(4)
    g, f = nn.Linear(2, 3), nn.Linear(5, 2)
    layer = PartUpdateConv(2, 2, message_channels=3, f=f, g=g)
    x = torch.randn(3, 2)
    edge_index = torch.tensor([[1, 2, 0], [0, 0, 1]])  # 1->0, 2->0, 0->1; node 2 receives nothing
    others = torch.stack([g(x[1]) + g(x[2]), g(x[0]), torch.zeros(3)])
    torch.testing.assert_close(layer(x, edge_index=edge_index), f(torch.cat([x, others], dim=-1)))


def test_complete_edge_index_equals_implicit_complete_graph():
    torch.manual_seed(5)
    layer = PartUpdateConv(3, 3)
    x, batch = torch.randn(5, 3), batch_vector([2, 3])
    pairs = [(j, i) for i in range(5) for j in range(5) if i != j and batch[i] == batch[j]]
    edge_index = torch.tensor(pairs).t()
    torch.testing.assert_close(layer(x, edge_index=edge_index), layer(x, batch), rtol=1e-5, atol=1e-6)


def test_ten_thousand_parts_in_one_whole_is_linear():
    torch.manual_seed(6)
    layer = PartUpdateConv(16, 16)
    x = torch.randn(10_000, 16)
    message = layer.g(x).double()
    others = layer.sum_over_others(layer.g(x), torch.zeros(10_000, dtype=torch.long))
    torch.testing.assert_close(others.double(), message.sum(0) - message, rtol=1e-4, atol=1e-2)
    out = layer(x)
    assert out.shape == (10_000, 16) and torch.isfinite(out).all()


def test_repr_and_reset_parameters():
    layer = PartUpdateConv(4, 6, message_channels=5)
    assert repr(layer) == "PartUpdateConv(4, 6, message_channels=5)"
    before = [p.clone() for p in layer.parameters()]
    layer.reset_parameters()
    assert all(not torch.equal(a, b) for a, b in zip(before, layer.parameters(), strict=True))  # f's and g's


@pytest.mark.parametrize("k", [0, 1, 2, 16, 100])
def test_gradients_are_finite(k):
    torch.manual_seed(7)
    layer = PartUpdateConv(4, 4)
    x = torch.randn(k, 4, requires_grad=True)
    layer(x, torch.zeros(k, dtype=torch.long), num_wholes=1).sum().backward()
    assert torch.isfinite(x.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in layer.parameters() if p.grad is not None)


def test_stack_applies_its_layers_in_turn_residual_where_the_size_is_kept():
    torch.manual_seed(0)
    stack = PartUpdateStack([5, 8, 8])
    x, batch = torch.randn(6, 5), torch.tensor([0, 0, 0, 1, 1, 2])
    first = stack[0](x, batch, num_wholes=3)  # 5 -> 8: no residual
    expected = first + stack[1](first, batch, num_wholes=3)  # 8 -> 8: residual
    torch.testing.assert_close(stack(x, batch, num_wholes=3), expected)
    assert len(stack) == 2 and all(isinstance(layer, PartUpdateConv) for layer in stack)


@pytest.mark.parametrize("custom", [(), ("f", "g"), ("f",), ("g",)],
                         ids=["default f and g", "custom f and g", "custom f", "custom g"])
def test_a_context_per_whole_reads_like_its_rows_copied_to_every_part(custom):
    torch.manual_seed(9)
    layer = PartUpdateConv(7, 8, message_channels=5)
    if custom:  # the same modules, not folded
        layer = PartUpdateConv(7, 8, message_channels=5, **{name: getattr(layer, name) for name in custom})
    assert layer.folded == (not custom)
    batch = batch_vector(COUNTS)
    context = torch.randn(len(COUNTS), 3, requires_grad=True)
    x = torch.randn(sum(COUNTS), 4, requires_grad=True)
    upstream = torch.randn(sum(COUNTS), 8)
    out = layer(x, batch, num_wholes=len(COUNTS), context=context)
    full = torch.cat([context.index_select(0, batch), x], -1)
    torch.testing.assert_close(out, dense_update(layer, full, COUNTS), rtol=1e-5, atol=1e-5)
    expected = layer(full, batch, num_wholes=len(COUNTS))
    for got, want in zip(torch.autograd.grad((out * upstream).sum(), [x, context, *layer.parameters()]),
                         torch.autograd.grad((expected * upstream).sum(), [x, context, *layer.parameters()]),
                         strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("channels", [[7, 7, 7], [7, 6, 6]], ids=["residual first layer", "resizing first layer"])
def test_a_stack_reads_its_context_in_the_first_layer_only(channels):
    torch.manual_seed(10)
    stack = PartUpdateStack(channels)
    batch = batch_vector(COUNTS)
    context, x = torch.randn(len(COUNTS), 3), torch.randn(sum(COUNTS), 4)
    full = torch.cat([context.index_select(0, batch), x], -1)
    torch.testing.assert_close(stack(x, batch, len(COUNTS), context=context), stack(full, batch, len(COUNTS)),
                               rtol=1e-5, atol=1e-5)


def test_a_context_with_a_row_count_other_than_the_wholes_is_an_error():
    layer = PartUpdateConv(5, 4)
    with pytest.raises(ValueError, match="one row per whole"):
        layer(torch.randn(6, 3), batch_vector([2, 4]), context=torch.randn(3, 2))


def test_trailing_empty_wholes_keep_their_context_rows():
    torch.manual_seed(11)
    counts = [2, 3, 0]
    batch, context, x = batch_vector(counts), torch.randn(3, 2), torch.randn(5, 4)
    layer, stack = PartUpdateConv(6, 5), PartUpdateStack([6, 6])
    for module in (layer, stack):
        torch.testing.assert_close(module(x, batch, num_wholes=3, context=context),
                                   module(x, batch, num_wholes=2, context=context[:2]))
