"""What the x-encoder reads of a whole: as observed, or per part (x / K) for a model blind to K."""
import torch
from helpers import batch_vector

from compvae_geo.models.whole_view import WholeAsObserved, WholePerPart
from compvae_geo.validation import Multisets, Wholes


def test_per_part_divides_each_whole_by_its_parts_and_an_empty_whole_by_one():
    counts = [2, 0, 3, 0]  # empty wholes, one of them last
    whole = torch.arange(8.0).view(4, 2) + 1
    multisets = Multisets.of(torch.zeros(5, dtype=torch.long), batch=batch_vector(counts), num_wholes=4)
    wholes = Wholes(**vars(multisets), whole=whole)
    torch.testing.assert_close(WholePerPart()(wholes), whole / torch.tensor([[2.0], [1.0], [3.0], [1.0]]))
    assert WholeAsObserved()(wholes) is whole
