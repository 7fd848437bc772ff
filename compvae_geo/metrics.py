"""Two-sample distances between generated and true wholes."""
from __future__ import annotations

import torch
from torch import Tensor


def median_distance(samples: Tensor) -> Tensor:
    """Median Euclidean distance between distinct pairs of ``samples`` ``[n, ...]`` (flattened)."""
    flat = samples.flatten(1)
    distances = torch.cdist(flat, flat)
    upper = torch.triu_indices(flat.size(0), flat.size(0), offset=1, device=flat.device)
    return distances[upper[0], upper[1]].median()


def mmd2_unbiased(x: Tensor, y: Tensor, bandwidth: float | Tensor) -> Tensor:
    r"""Unbiased MMD^2 (Gretton et al. 2012) with the RBF kernel
    :math:`k(a, b) = \exp(-\|a - b\|^2 / (2\,\mathrm{bandwidth}^2))`; ``x`` ``[n, ...]``, ``y`` ``[m, ...]``."""
    if x.size(0) < 2 or y.size(0) < 2:
        raise ValueError("MMD^2 needs at least two samples on each side")
    x, y = x.flatten(1).double(), y.flatten(1).double()
    scale = -0.5 / float(bandwidth) ** 2
    k_xx = torch.exp(scale * torch.cdist(x, x).pow(2))
    k_yy = torch.exp(scale * torch.cdist(y, y).pow(2))
    k_xy = torch.exp(scale * torch.cdist(x, y).pow(2))
    n, m = x.size(0), y.size(0)
    term_xx = (k_xx.sum() - k_xx.diagonal().sum()) / (n * (n - 1))
    term_yy = (k_yy.sum() - k_yy.diagonal().sum()) / (m * (m - 1))
    return term_xx + term_yy - 2 * k_xy.mean()
