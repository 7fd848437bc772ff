import math

import pytest
import torch

from compvae_geo.datasets import SITE_COLORS, SiteParts


def reference_image(colors: torch.Tensor, locations: torch.Tensor, intensity: torch.Tensor, size: int) -> torch.Tensor:
    """The formula pixel by pixel: softmax over sites of -s_k |p - u_k|^2, blended colors, gamma."""
    image = torch.zeros(3, size, size)
    for row in range(size):
        for col in range(size):
            pixel = torch.tensor([-1 + 2 * col / (size - 1), -1 + 2 * row / (size - 1)])
            weights = torch.softmax(-intensity * ((pixel - locations) ** 2).sum(-1), dim=0)
            image[:, row, col] = (weights[:, None] * colors).sum(0)
    return image.pow(1 / 2.4).clamp(0, 1)


def test_image_follows_the_formula_with_sites_competing_for_pixels():
    problem = SiteParts(size=8)
    generator = torch.Generator().manual_seed(0)
    batch = problem.sample_batch(3, 4, generator=generator)
    generator = torch.Generator().manual_seed(0)
    counts = torch.randint(1, 5, (3,), generator=generator)
    num_parts = int(counts.sum())
    part = torch.randint(0, 5, (num_parts,), generator=generator)
    locations = problem.sample_part_attr(part, generator)
    intensity = problem.sample_intrinsics(num_parts, generator, torch.device("cpu"))[:, 0]
    palette = torch.tensor(list(SITE_COLORS.values()))
    assert torch.equal(batch.part, part) and torch.equal(batch.part_attr, locations)
    for b, (start, end) in enumerate(zip(batch.ptr[:-1], batch.ptr[1:])):
        expected = reference_image(palette[part[start:end]], locations[start:end], intensity[start:end], 8)
        torch.testing.assert_close(batch.whole[b], expected)
    assert batch.whole.shape == (3, 3, 8, 8) and batch.part_attr.abs().max() <= 0.9


def test_empty_multiset_gives_a_black_image_and_locations_are_required():
    problem = SiteParts(size=8)
    black = problem.sample_wholes(torch.tensor([], dtype=torch.long), 2, torch.zeros(0, 2))
    assert torch.equal(black, torch.zeros(2, 3, 8, 8))
    with pytest.raises(ValueError, match=r"part_attr must have shape \(1, 2\)"):
        problem.sample_wholes(torch.tensor([1]), 2)


def test_naive_simulator_adds_light_without_competition():
    problem = SiteParts(size=8)
    part, location = torch.tensor([0, 2]), torch.tensor([[-0.5, 0.0], [0.5, 0.0]])
    naive = problem.naive_wholes(part, 3, location, generator=torch.Generator().manual_seed(0))
    intensity = problem.sample_intrinsics(6, torch.Generator().manual_seed(0), torch.device("cpu"))[:, 0]
    line = torch.linspace(-1, 1, 8)
    for s in range(3):
        light = torch.zeros(3, 8, 8)
        for k in range(2):
            distance = (line[None, :] - location[k, 0]) ** 2 + (line[:, None] - location[k, 1]) ** 2
            light += torch.exp(-intensity[2 * s + k] * distance) * problem.colors()[part[k]][:, None, None]
        torch.testing.assert_close(naive[s], light.pow(1 / 2.4).clamp(0, 1))


def test_site_color_accuracy_matches_the_generator_and_catches_wrong_colors():
    problem = SiteParts()
    generator = torch.Generator().manual_seed(1)
    part = torch.tensor([0, 3])
    location = torch.tensor([[-0.6, -0.6], [0.6, 0.6]])  # far apart: each site owns its pixel
    true = problem.sample_wholes(part, 10, location, generator=generator)
    assert problem.part_accuracy(true, part, location) == 1.0
    swapped = problem.sample_wholes(torch.tensor([3, 0]), 10, location, generator=generator)
    assert problem.part_accuracy(swapped, part, location) == 0.0
    assert problem.pixel_of(torch.tensor([[-1.0, 1.0], [0.0, 0.0]]))[1].tolist() == [0, round(31 / 2)]
    # neighbouring sites blend, so even the generator scores below 1 at K = 8 (the issue quotes ~72%)
    scores = []
    for _ in range(40):
        part = torch.randint(0, 5, (8,), generator=generator)
        location = problem.sample_part_attr(part, generator)
        wholes = problem.sample_wholes(part, 4, location, generator=generator)
        scores.append(problem.part_accuracy(wholes, part, location))
    assert 0.6 < sum(scores) / len(scores) < 0.85 and not math.isnan(scores[0])
