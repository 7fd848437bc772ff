import torch
from helpers import batch_vector

from compvae_geo.layers import PartSum


def test_sums_parts_per_whole_and_keeps_empty_wholes():
    w = torch.arange(12.0).reshape(6, 2)
    counts = [2, 0, 4, 0]  # empty wholes inside and at the end
    w_tilde = PartSum()(w, batch_vector(counts), dim_size=len(counts))
    expected = torch.stack([w[:2].sum(0), torch.zeros(2), w[2:].sum(0), torch.zeros(2)])
    torch.testing.assert_close(w_tilde, expected)
