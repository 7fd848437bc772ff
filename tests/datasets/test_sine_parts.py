import math

import pytest
import torch
from torch_geometric.data import Batch

from compvae_geo.datasets import SineParts


def test_whole_follows_the_papers_formula():
    problem = SineParts()
    part = torch.tensor([0, 4, 4, 9])
    intrinsics = torch.tensor([[1.2, 0.3], [0.8, -1.0], [1.0, 2.0], [0.5, 0.0]])
    whole = problem.render(part, None, intrinsics, torch.zeros(4, dtype=torch.long), 1)[0]
    k, c = 4, 3.0
    for t in (0, 17, 199):
        total = sum(a * math.cos(2 * math.pi * (category + 1) * t / 100 + ph)
                    for category, (a, ph) in zip(part.tolist(), intrinsics.tolist()))
        assert whole[t].item() == pytest.approx(k * math.tanh(c / k * total), rel=1e-5, abs=1e-5)


def test_batch_is_seeded_and_mixed_k():
    problem = SineParts()
    a = problem.sample_batch(64, max_parts=5, generator=torch.Generator().manual_seed(1))
    b = problem.sample_batch(64, max_parts=5, generator=torch.Generator().manual_seed(1))
    c = problem.sample_batch(64, max_parts=5, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a.part, b.part) and torch.equal(a.whole, b.whole)
    assert not torch.equal(a.whole, c.whole)
    counts = torch.bincount(a.batch, minlength=64)
    assert counts.min() >= 1 and counts.max() <= 5 and len(counts.unique()) > 1
    assert a.whole.shape == (64, 200) and a.num_graphs == 64


def test_direct_batch_has_the_layout_of_collated_data():
    problem = SineParts()
    direct = problem.sample_batch(10, max_parts=4, min_parts=0, generator=torch.Generator().manual_seed(3))
    data_list = direct.to_data_list()
    assert [d.num_nodes for d in data_list] == torch.bincount(direct.batch, minlength=10).tolist()
    assert data_list[0].whole.shape == (1, 200)
    collated = Batch.from_data_list(data_list)
    for key in ("part", "whole", "batch", "ptr"):
        assert torch.equal(collated[key], direct[key]), key
    assert collated.num_graphs == direct.num_graphs


def test_data_list_is_reproducible_and_empty_multiset_gives_zero_curve():
    problem = SineParts()
    first = problem.data_list(5, max_parts=3, min_parts=0, seed=7)
    again = problem.data_list(5, max_parts=3, min_parts=0, seed=7)
    assert all(torch.equal(x.whole, y.whole) for x, y in zip(first, again))
    empty = problem.sample_wholes(torch.zeros(0, dtype=torch.long), 3)
    assert torch.equal(empty, torch.zeros(3, 200))


def test_sample_wholes_redraws_only_the_intrinsic_variation():
    problem = SineParts()
    part = torch.tensor([2])
    wholes = problem.sample_wholes(part, 2000, generator=torch.Generator().manual_seed(0))
    assert wholes.shape == (2000, 200)
    spectrum = torch.fft.rfft(wholes, dim=-1).abs().mean(0)
    assert spectrum.argmax().item() == 2 * 3  # frequency 3 cycles per unit time over 2 units


def test_bad_requests_raise_value_error():
    problem = SineParts()
    with pytest.raises(ValueError, match="min_parts"):
        problem.sample_batch(4, max_parts=1, min_parts=2)
    with pytest.raises(ValueError, match="categories"):
        problem.sample_wholes(torch.tensor([10]), 2)
    with pytest.raises(ValueError, match="part_attr"):
        problem.sample_wholes(torch.tensor([1]), 2, part_attr=torch.zeros(1, 2))


def test_naive_simulator_sums_parts_each_through_the_nonlinearity():
    problem = SineParts()
    part = torch.tensor([1, 6, 6])
    naive = problem.naive_wholes(part, 4, generator=torch.Generator().manual_seed(0))
    generator = torch.Generator().manual_seed(0)
    intrinsics = problem.sample_intrinsics(12, generator, torch.device("cpu"))
    curves = problem.part_curves(part.repeat(4), intrinsics)
    expected = torch.tanh(problem.nonlinearity * curves).reshape(4, 3, -1).sum(1)
    torch.testing.assert_close(naive, expected)
    assert naive.shape == (4, 200)
    single = problem.naive_wholes(torch.tensor([3]), 500, generator=torch.Generator().manual_seed(1))
    true = problem.sample_wholes(torch.tensor([3]), 500, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(single, true)  # one part: the naive simulator is exact
