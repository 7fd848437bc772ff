"""The paper's 2D problem: images made of colored sites (Berger & Sebag, section 4.2)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torch_geometric.utils import scatter, softmax

from .parts_problem import PartsProblem

# The site colors in linear RGB; a part's category indexes this table.
SITE_COLORS = {"red": (1.0, 0.0, 0.0), "green": (0.0, 1.0, 0.0), "blue": (0.0, 0.0, 1.0),
               "white": (1.0, 1.0, 1.0), "black": (0.0, 0.0, 0.0)}


@dataclass(frozen=True)
class SiteParts(PartsProblem):
    r"""Wholes are images of colored sites; a part is a color (category) at a location (``part_attr``).

    Pixel :math:`p` (on a grid over :math:`[-1, 1]^2`) of a whole with sites :math:`k = 1..K`:

    .. math::
        x(p) = \mathrm{clip}\Big(\big(\textstyle\sum_k \mathrm{softmax}_k(-s_k \|p - u_k\|^2)\, c_k\big)^{1/\gamma},
        0, 1\Big)

    with site color :math:`c_k`, location :math:`u_k \sim U[-0.9, 0.9]^2` (seen by the model)
    and intensity :math:`s_k \sim U[5, 10]` (hidden). Sites compete for each pixel, so the whole is
    not the sum of its parts. An empty multiset gives a black image.
    """

    size: int = 32  # the image is 3 x size x size
    location_range: float = 0.9  # site coordinates are uniform in [-range, range]
    intensity_low: float = 5.0
    intensity_high: float = 10.0
    gamma: float = 2.4  # pixels are raised to 1 / gamma after blending

    num_categories = len(SITE_COLORS)  # not fields: fixed by the color table
    part_attr_dim = 2  # the (x, y) location of a site
    observation = "image"

    @property
    def obs_shape(self) -> tuple[int, ...]:
        """``(3, size, size)``: one RGB image."""
        return (3, self.size, self.size)

    def colors(self, device: torch.device | None = None) -> Tensor:
        """``[num_categories, 3]`` linear RGB of each category."""
        return torch.tensor(list(SITE_COLORS.values()), device=device)

    def sample_part_attr(self, part: Tensor, generator: torch.Generator | None) -> Tensor:
        """``[N, 2]`` site locations (x: column, y: row), whatever the colors."""
        unit = torch.rand(part.numel(), 2, generator=generator, device=part.device)
        return (2 * unit - 1) * self.location_range

    def sample_intrinsics(self, num_parts: int, generator: torch.Generator | None, device: torch.device) -> Tensor:
        """``[num_parts, 1]`` site intensities."""
        unit = torch.rand(num_parts, 1, generator=generator, device=device)
        return self.intensity_low + (self.intensity_high - self.intensity_low) * unit

    def _grid(self, device: torch.device) -> Tensor:
        return torch.linspace(-1.0, 1.0, self.size, device=device)

    def _squared_distances(self, part_attr: Tensor) -> Tensor:
        """``[N, size, size]``: squared distance from each site to each pixel (row y, column x)."""
        line = self._grid(part_attr.device)
        dx = (line.unsqueeze(0) - part_attr[:, :1]).pow(2)  # [N, size] over columns
        dy = (line.unsqueeze(0) - part_attr[:, 1:]).pow(2)  # [N, size] over rows
        return dy.unsqueeze(-1) + dx.unsqueeze(-2)

    def _gamma(self, linear: Tensor) -> Tensor:
        return linear.clamp_min(0).pow(1 / self.gamma).clamp(0, 1)

    def render(
        self, part: Tensor, part_attr: Tensor | None, intrinsics: Tensor, batch: Tensor, num_wholes: int,
        shared: Tensor | None = None,
    ) -> Tensor:
        """The wholes: each pixel blends the colors of its sites, weighted by a softmax over the sites."""
        logits = -intrinsics.unsqueeze(-1) * self._squared_distances(part_attr)  # [N, H, W]
        # each pixel: a softmax over the sites of its whole
        weights = softmax(logits, batch, num_nodes=num_wholes, dim=0)
        colored = weights.unsqueeze(1) * self.colors(part.device)[part][:, :, None, None]  # [N, 3, H, W]
        return self._gamma(scatter(colored, batch, dim=0, dim_size=num_wholes, reduce="sum"))

    def naive_render(
        self, part: Tensor, part_attr: Tensor | None, intrinsics: Tensor, batch: Tensor, num_wholes: int,
        shared: Tensor | None = None,
    ) -> Tensor:
        """Additive light.

        Each site alone as its color times exp(-intensity * squared distance), the lights summed with no competition
        between sites, then gamma-corrected and clipped.
        """
        light = torch.exp(-intrinsics.unsqueeze(-1) * self._squared_distances(part_attr))
        colored = light.unsqueeze(1) * self.colors(part.device)[part][:, :, None, None]
        return self._gamma(scatter(colored, batch, dim=0, dim_size=num_wholes, reduce="sum"))

    def pixel_of(self, part_attr: Tensor) -> tuple[Tensor, Tensor]:
        """Row and column of the pixel nearest to each location ``[N, 2]``."""
        index = ((part_attr + 1) / 2 * (self.size - 1)).round().long().clamp(0, self.size - 1)
        return index[:, 1], index[:, 0]

    def part_accuracy(self, wholes: Tensor, part: Tensor, part_attr: Tensor | None) -> float:
        """Site-color accuracy.

        The share of (whole, site) pairs where the pixel at the site's location is closer to the site's own
        (gamma-corrected) color than to any other color. ``wholes`` ``[S, 3, H, W]`` are all made of the multiset
        ``part`` at ``part_attr``.
        """
        self.check_parts(part, part_attr)
        if part.numel() == 0:
            raise ValueError("site-color accuracy needs at least one site")
        rows, cols = self.pixel_of(part_attr)
        pixels = wholes[:, :, rows, cols].permute(0, 2, 1)  # [S, K, 3]
        palette = self._gamma(self.colors(wholes.device))  # [C, 3]
        nearest = torch.cdist(pixels.reshape(-1, 3), palette).argmin(-1).reshape(pixels.shape[:2])
        return float((nearest == part.to(wholes.device)).float().mean())
