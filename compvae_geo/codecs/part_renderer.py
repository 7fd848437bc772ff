"""What every part renderer shares: drawing each part on its whole's grid, and summing them per whole."""
from __future__ import annotations

from torch import Tensor, nn
from torch_geometric.utils import scatter


class PartRenderer(nn.Module):
    r"""Draws each part on the grid of its whole; :meth:`render_sum` adds them up per whole.

    A subclass sets ``grid_shape`` and ``channels`` and maps part features ``[N, in_dim]`` to
    ``[N, channels, *grid_shape]`` in ``forward`` (each part alone). :meth:`render_sum` is
    :math:`\sum_{i \in b} r(f_i)` for each whole b; a renderer whose last layer is linear overrides it to
    sum before that layer, which gives the same sum from far fewer operations.
    """

    grid_shape: tuple[int, ...]
    channels: int

    def render_sum(self, features: Tensor, batch: Tensor, num_wholes: int) -> Tensor:
        """The sum over the parts of each whole of their renderings: ``[num_wholes, channels, *grid_shape]``."""
        summed = scatter(self(features).flatten(1), batch, dim=0, dim_size=num_wholes, reduce="sum")
        return summed.reshape(num_wholes, self.channels, *self.grid_shape)
