"""The paper's 1D problem: sums of sines under a tanh (Berger & Sebag, section 4.2)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor
from torch_geometric.utils import scatter

from .parts_problem import PartsProblem


@dataclass(frozen=True)
class SineParts(PartsProblem):
    r"""Wholes are curves made of sine waves; a part's category is its frequency.

    .. math::
        x(t) = K \tanh\Big(\frac{C}{K} \sum_{i=1}^{K} a_i \cos\big(2\pi (l_i + 1) t / R + \kappa_i\big)\Big),
        \quad t = 0..T-1

    with category :math:`l_i \in [0, 10)` (frequency :math:`l_i + 1` cycles per unit time),
    :math:`a_i \sim \mathcal{N}(1, 0.3^2)`, :math:`\kappa_i \sim \mathcal{N}(0, (\pi/2)^2)`,
    and :math:`R` samples per unit time. An empty multiset gives the zero curve.
    """

    num_categories: int = 10  # frequencies 1..10 cycles per unit time
    length: int = 200  # T, samples per curve
    samples_per_unit: int = 100  # R, samples per unit time (the paper: 2 units of time)
    nonlinearity: float = 3.0  # C, strength of the tanh saturation
    amplitude_mean: float = 1.0
    amplitude_std: float = 0.3
    phase_std: float = math.pi / 2

    observation = "curve"  # the x-encoder/decoder family that fits these wholes (not a field)

    @property
    def obs_shape(self) -> tuple[int, ...]:
        """``(length,)``: one curve of ``length`` samples."""
        return (self.length,)

    def sample_part_attr(self, part: Tensor, generator: torch.Generator | None) -> None:
        """None: sine parts have no continuous descriptors."""
        return None

    def sample_intrinsics(self, num_parts: int, generator: torch.Generator | None, device: torch.device) -> Tensor:
        """``[num_parts, 2]``: amplitude and phase of each sine."""
        noise = torch.randn(num_parts, 2, generator=generator, device=device)
        return torch.stack(
            [self.amplitude_mean + self.amplitude_std * noise[:, 0], self.phase_std * noise[:, 1]], dim=-1
        )

    def part_curves(self, part: Tensor, intrinsics: Tensor) -> Tensor:
        """Each part's sine wave alone, ``[num_parts, T]``."""
        t = torch.arange(self.length, dtype=intrinsics.dtype, device=intrinsics.device)
        frequency = (part + 1).to(intrinsics.dtype).unsqueeze(-1)
        amplitude, phase = intrinsics[:, :1], intrinsics[:, 1:]
        return amplitude * torch.cos(2 * math.pi * frequency * t / self.samples_per_unit + phase)

    def render(
        self, part: Tensor, part_attr: Tensor | None, intrinsics: Tensor, batch: Tensor, num_wholes: int,
        shared: Tensor | None = None,
    ) -> Tensor:
        """The wholes: the sum of each whole's sines through the problem's non-linearity."""
        total = scatter(self.part_curves(part, intrinsics), batch, dim=0, dim_size=num_wholes, reduce="sum")
        num_parts = torch.bincount(batch, minlength=num_wholes).to(total.dtype).clamp_min(1).unsqueeze(-1)
        return num_parts * torch.tanh(self.nonlinearity / num_parts * total)
