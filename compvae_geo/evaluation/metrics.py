"""Two-sample distances between generated and true wholes."""
from __future__ import annotations

import torch
from torch import Tensor


def _flat(samples: Tensor) -> Tensor:
    return samples.flatten(1).double()


def median_distance(samples: Tensor) -> Tensor:
    """Median Euclidean distance between distinct pairs of ``samples`` ``[n, ...]`` (flattened)."""
    flat = samples.flatten(1)
    distances = torch.cdist(flat, flat)
    upper = torch.triu_indices(flat.size(0), flat.size(0), offset=1, device=flat.device)
    return distances[upper[0], upper[1]].median()


def _check_two_samples(x: Tensor, y: Tensor) -> None:
    if x.size(0) < 2 or y.size(0) < 2:
        raise ValueError("a two-sample distance needs at least two samples on each side")
    if x.shape[1:] != y.shape[1:]:
        raise ValueError(f"samples of different shapes: {tuple(x.shape[1:])} and {tuple(y.shape[1:])}")


def _mmd2_from_kernel(kernel: Tensor, in_x: Tensor) -> Tensor:
    """Unbiased MMD^2 of every labelling of the pooled samples at once.

    Unbiased MMD^2 from the pooled kernel matrix ``[N, N]`` for each labelling ``in_x``
    ``[P, N]`` (1.0 where a sample counts as x, 0.0 for y); returns ``[P]``.
    """
    in_y = 1 - in_x
    n, m = in_x[0].sum(), in_y[0].sum()
    diagonal = kernel.diagonal()
    kernel_x, kernel_y = in_x @ kernel, in_y @ kernel
    term_xx = ((kernel_x * in_x).sum(-1) - in_x @ diagonal) / (n * (n - 1))
    term_yy = ((kernel_y * in_y).sum(-1) - in_y @ diagonal) / (m * (m - 1))
    term_xy = (kernel_x * in_y).sum(-1) / (n * m)
    return term_xx + term_yy - 2 * term_xy


def _first_n(n: int, total: int) -> Tensor:
    """The labelling of pooled samples ``cat([x, y])``, ``[1, total]``."""
    return (torch.arange(total) < n).double().unsqueeze(0)


def _rbf_kernel(pooled: Tensor, bandwidth: float | Tensor) -> Tensor:
    return torch.exp(-0.5 / float(bandwidth) ** 2 * torch.cdist(pooled, pooled).pow(2))


def mmd2_unbiased(x: Tensor, y: Tensor, bandwidth: float | Tensor) -> Tensor:
    r"""Unbiased MMD^2 with an RBF kernel.

    Unbiased MMD^2 (Gretton et al. 2012) with the RBF kernel
    :math:`k(a, b) = \exp(-\|a - b\|^2 / (2\,\mathrm{bandwidth}^2))`; ``x`` ``[n, ...]``, ``y`` ``[m, ...]``.
    """
    _check_two_samples(x, y)
    pooled = torch.cat([_flat(x), _flat(y)])
    return _mmd2_from_kernel(_rbf_kernel(pooled, bandwidth), _first_n(x.size(0), pooled.size(0)).to(pooled.device))[0]


def mmd2_permutation_test(
    x: Tensor, y: Tensor, bandwidth: float | Tensor, num_permutations: int = 200,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, float]:
    """Unbiased MMD^2 and its permutation p-value.

    The share of random relabellings of the pooled samples whose MMD^2 is at least the observed one, counting the
    observed labelling (``(1 + #{>=}) / (1 + num_permutations)``, never 0). The kernel matrix is computed once and all
    permutations are scored in one matrix product.
    """
    _check_two_samples(x, y)
    if num_permutations < 1:
        raise ValueError(f"num_permutations must be >= 1, got {num_permutations}")
    pooled = torch.cat([_flat(x), _flat(y)]).cpu()
    kernel = _rbf_kernel(pooled, bandwidth)
    observed_labels = _first_n(x.size(0), pooled.size(0))
    observed = _mmd2_from_kernel(kernel, observed_labels)[0]
    # a random permutation of the pooled samples: the first n of a random order count as x
    order = torch.rand(num_permutations, pooled.size(0), generator=generator).argsort(-1)
    permuted = torch.zeros(num_permutations, pooled.size(0), dtype=torch.float64).scatter_(
        1, order[:, : x.size(0)], 1.0)
    at_least = int((_mmd2_from_kernel(kernel, permuted) >= observed).sum())
    return observed, (1 + at_least) / (1 + num_permutations)


def energy_distance(x: Tensor, y: Tensor) -> Tensor:
    r"""Energy distance between two samples.

    Energy distance (Székely & Rizzo) :math:`2E\|X-Y\| - E\|X-X'\| - E\|Y-Y'\|`, with the
    within-sample means over distinct pairs (unbiased). No bandwidth; 0 for equal distributions.
    """
    _check_two_samples(x, y)
    x, y = _flat(x), _flat(y)
    n, m = x.size(0), y.size(0)
    within_x = torch.cdist(x, x).sum() / (n * (n - 1))
    within_y = torch.cdist(y, y).sum() / (m * (m - 1))
    return 2 * torch.cdist(x, y).mean() - within_x - within_y


def mean_power_spectrum(curves: Tensor) -> Tensor:
    r"""Mean over curves ``[n, T]`` of the periodogram :math:`|\mathrm{rfft}(x)|^2 / T`, ``[T // 2 + 1]``."""
    if curves.dim() != 2:
        raise ValueError(f"curves must be [n, T], got shape {tuple(curves.shape)}")
    return torch.fft.rfft(curves.double(), dim=-1).abs().pow(2).mean(0) / curves.size(-1)


def spectrum_distance(x: Tensor, y: Tensor) -> Tensor:
    r"""Relative L1 distance between the mean power spectra of curves ``x`` and the reference ``y``.

    :math:`\sum_f |P_x(f) - P_y(f)| / \sum_f P_y(f)` (0: same spectrum; 2: disjoint).
    """
    px, py = mean_power_spectrum(x), mean_power_spectrum(y)
    return (px - py).abs().sum() / py.sum()


def standardisation(true: Tensor) -> tuple[Tensor, Tensor]:
    """The mean and std of each position of the true wholes (a std of 0 counts as 1)."""
    std = true.std(0)
    return true.mean(0), torch.where(std > 0, std, torch.ones_like(std))


def pooled_bandwidth(true: Tensor, other: Tensor) -> Tensor:
    """The bandwidth when all true wholes are equal.

    The bandwidth when all true wholes are equal (one site fills the whole image in the 2D
    problem): the median distance of the pooled samples, or 1 if that is 0 too.
    """
    bandwidth = median_distance(torch.cat([true, other]))
    return bandwidth if bandwidth > 0 else torch.tensor(1.0)
