"""The base of distributions over the ragged sets of part latents of the wholes of a PyG batch."""
from __future__ import annotations

import torch
from torch import Tensor
from torch.distributions import Distribution, constraints
from torch_geometric.utils import scatter

from ..wholes import check_batch, count_wholes


class PartDistribution(Distribution):
    r"""A distribution whose event for whole :math:`b` is the set of latents of its parts.

    Part latents are rows of a :math:`(|V|, D)` tensor and ``batch`` :math:`(|V|)` says which
    whole each part belongs to (PyG's disjoint-union layout), so wholes of different sizes share
    one tensor without padding. Per-whole quantities (:meth:`log_prob`, :meth:`entropy`, KL
    divergences) are scatter-sums of per-part terms, :math:`(|G|)`; a whole with no parts
    contributes 0. A subclass sets ``self.loc`` (whose last size is :math:`D`) before calling
    this ``__init__``: :meth:`num_parts` and :meth:`standard_normal` take their dtype, device
    and :math:`D` from it.

    As in :mod:`torch.distributions`, ``validate_args`` (default: the global
    :meth:`~torch.distributions.Distribution.set_default_validate_args`) checks the parameters
    against ``arg_constraints`` and the ``batch`` vector at construction, and the values given to
    :meth:`log_prob`; pass ``validate_args=False`` where non-finite parameters must propagate
    (a training step that a non-finite loss skips) or to save the checks' cost.

    Args:
        batch (Tensor): whole of each part :math:`(|V|)`.
        num_wholes (int, optional): number of wholes :math:`|G|`. (default: ``max(batch) + 1``)
        validate_args (bool, optional): check the arguments. (default: torch's global default)
    """

    support = constraints.real

    def __init__(self, batch: Tensor, num_wholes: int | None = None, validate_args: bool | None = None) -> None:
        self.batch = batch
        self.num_wholes = count_wholes(batch, num_wholes)
        super().__init__(batch_shape=torch.Size([self.num_wholes]), validate_args=validate_args)
        if self._validate_args:
            check_batch(batch, self.loc.size(-2), self.num_wholes)

    def _validate_value(self, value: Tensor) -> None:
        """With ``validate_args``: raise ``ValueError`` unless ``value`` is ``(..., |V|, D)`` in the support."""
        if not self._validate_args:
            return
        if value.shape[-2:] != self.loc.shape[-2:]:
            raise ValueError(f"value must be (..., |V|, D) = (..., {', '.join(map(str, self.loc.shape[-2:]))}), "
                             f"got {tuple(value.shape)}")
        if not self.support.check(value).all():
            raise ValueError(f"value of {type(self).__name__}.log_prob is outside the support {self.support}")

    def sum_per_whole(self, per_part: Tensor, dim: int = -1) -> Tensor:
        """Sums ``per_part`` over the parts of each whole along ``dim``.

        Sums ``per_part`` over the parts of each whole along ``dim`` (of size :math:`|V|`),
        which becomes of size :math:`|G|`.
        """
        return scatter(per_part, self.batch, dim=dim, dim_size=self.num_wholes, reduce="sum")

    def num_parts(self) -> Tensor:
        """Number of parts :math:`K` of each whole, :math:`(|G|)`."""
        return self.sum_per_whole(torch.ones_like(self.batch, dtype=self.loc.dtype))

    def standard_normal(self, sample_shape: torch.Size = torch.Size()) -> Tensor:
        """Standard-normal noise of shape ``sample_shape + (|V|, D)``, on the latents' device."""
        shape = torch.Size(sample_shape) + self.batch.shape + self.loc.shape[-1:]
        return torch.randn(shape, dtype=self.loc.dtype, device=self.loc.device)
