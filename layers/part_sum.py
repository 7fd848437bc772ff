"""The order-invariant aggregation of part latents into the latent of the whole."""
from __future__ import annotations

from torch_geometric.nn.aggr import SumAggregation


class PartSum(SumAggregation):
    r"""Sums the latents of the parts of each whole: :math:`\tilde{w}_b = \sum_{i \in b} w_i`.

    A whole with no parts gets :math:`\tilde{w}_b = 0` (pass ``dim_size`` so that empty wholes
    at the end of a batch are kept).

    Shapes:
        - **input:** part latents :math:`(|V|, D)`, ``index`` (the batch vector) :math:`(|V|)`
        - **output:** whole latents :math:`(|G|, D)`
    """
