"""The posterior-update layer of CompVAE (Berger & Sebag, eq. 5)."""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.nn import MLP, MessagePassing
from torch_geometric.nn.inits import reset

from .wholes import count_wholes, resolve_batch


class PartUpdateConv(MessagePassing):
    r"""Updates every part from the sum over the *other* parts of its whole.

    .. math::
        \mathbf{h}_i' = f\Big(\mathbf{h}_i \,\Vert \sum_{j \neq i,\ j \in G(i)} g(\mathbf{h}_j)\Big)

    where :math:`G(i)` is the whole (datapoint) that part :math:`i` belongs to. Without an
    ``edge_index`` the parts of a whole form an implicit complete graph, computed in
    :math:`O(|V|)`: :math:`g` is summed per whole, broadcast back to its parts and each part's
    own term is subtracted. No :math:`K \times K` structure is ever built. With an explicit
    ``edge_index`` the sum runs over the given neighbours instead (parts that have relations).

    With the default :math:`f` and :math:`g` (two-layer MLPs), :math:`g`'s last layer is linear,
    :math:`g(\mathbf{h}) = G \mathbf{a}(\mathbf{h}) + \mathbf{c}`, and so is :math:`f`'s first,
    :math:`F_x \mathbf{h}_i + F_o \mathbf{m}_i + \mathbf{b}`. The layer then sums the hidden layer
    :math:`\mathbf{a}` instead and folds :math:`G` into :math:`F_o`,

    .. math::
        F_o \sum_{j \neq i} g(\mathbf{h}_j) = (F_o G) \sum_{j \neq i} \mathbf{a}(\mathbf{h}_j) + (K - 1) F_o \mathbf{c},

    the same function from one product per part fewer (``docs/performance.md``).

    A part state often starts with features of its whole that all its parts share (the whole's
    summary, its z). Pass them once per whole as ``context`` :math:`(|G|, F_c)`: the layer reads
    :math:`\mathbf{u}_{G(i)} \Vert \mathbf{h}_i` (``in_channels`` counts both), and the default
    :math:`f` and :math:`g` apply their first layers to :math:`\mathbf{u}` once per whole.

    Args:
        in_channels (int): size of each input part state.
        out_channels (int): size of each output part state.
        message_channels (int, optional): size of :math:`g(\mathbf{h})`.
            (default: ``out_channels``)
        f (torch.nn.Module, optional): maps ``[in_channels + message_channels]`` to
            ``[out_channels]``. (default: two-layer :class:`~torch_geometric.nn.MLP`)
        g (torch.nn.Module, optional): maps ``[in_channels]`` to ``[message_channels]``.
            (default: two-layer :class:`~torch_geometric.nn.MLP`)

    Shapes:
        - **input:** part states :math:`(|V|, F_{in})` (:math:`(|V|, F_{in} - F_c)` with a context),
          batch vector :math:`(|V|)` (optional), edge indices :math:`(2, |E|)` (optional),
          context :math:`(|G|, F_c)` (optional)
        - **output:** part states :math:`(|V|, F_{out})`
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        message_channels: int | None = None,
        f: nn.Module | None = None,
        g: nn.Module | None = None,
    ) -> None:
        # Only a sum can have a part's own term subtracted from the total of its whole.
        super().__init__(aggr="sum")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.message_channels = message_channels or out_channels
        m = self.message_channels
        self.g = g if g is not None else MLP([in_channels, m, m], norm=None)
        self.f = f if f is not None else MLP([in_channels + m, out_channels, out_channels], norm=None)
        self.folded = f is None and g is None  # the default f and g: sum g's hidden layer (class docstring)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-initialises :math:`f` and :math:`g`."""
        super().reset_parameters()
        reset(self.f)
        reset(self.g)

    def forward(
        self,
        x: Tensor,
        batch: Tensor | None = None,
        edge_index: Tensor | None = None,
        num_wholes: int | None = None,
        context: Tensor | None = None,
    ) -> Tensor:
        """Updated part states :math:`(|V|, F_{out})`; see the class docstring."""
        if edge_index is None or context is not None:  # the given neighbours alone need no wholes
            batch, num_wholes = resolve_batch(batch, x.size(0), x.device, num_wholes)
        if context is not None and context.size(0) != num_wholes:
            raise ValueError(f"context must have one row per whole ({num_wholes}), got {context.size(0)}")
        if self.folded and edge_index is None:
            return self._folded_update(x, batch, num_wholes, context)
        if context is not None:
            x = torch.cat([context.index_select(0, batch), x], dim=-1)
        if edge_index is not None:
            return self.f(torch.cat([x, self.propagate(edge_index, x=self.g(x))], dim=-1))
        return self.f(torch.cat([x, self.sum_over_others(self.g(x), batch, num_wholes)], dim=-1))

    def _folded_update(self, x: Tensor, batch: Tensor, num_wholes: int, context: Tensor | None) -> Tensor:
        """The default f and g's update, with g's last layer folded into f's first (class docstring)."""
        (g_hidden, g_last), (f_first, f_last) = self.g.lins, self.f.lins
        f_own, f_others = f_first.weight.split([self.in_channels, self.message_channels], dim=1)
        # the first layers of g and f on the part's own state, with the context's share once per whole
        own = torch.cat([g_hidden.weight, f_own], dim=0)
        bias = torch.cat([g_hidden.bias, f_first.bias])
        if context is None:
            first = torch.addmm(bias, x, own.t())
        else:
            own_context, own_part = own.split([context.size(1), x.size(1)], dim=1)
            first = torch.addmm(torch.addmm(bias, context, own_context.t()).index_select(0, batch), x, own_part.t())
        g_first, f_first_own = first.split([g_hidden.weight.size(0), f_first.weight.size(0)], dim=1)
        hidden = self.g.act(g_first)
        # the sum over the others of [a(h_j), 1]: the last column counts them, for the bias term
        others = self.sum_over_others(torch.cat([hidden, hidden.new_ones(hidden.size(0), 1)], -1), batch, num_wholes)
        folded = torch.cat([f_others @ g_last.weight, (f_others @ g_last.bias).unsqueeze(1)], dim=1)
        return f_last(self.f.act(torch.addmm(f_first_own, others, folded.t())))

    def sum_over_others(self, message: Tensor, batch: Tensor, num_wholes: int | None = None) -> Tensor:
        r""":math:`\sum_{j \neq i,\ j \in G(i)} m_j` for every part :math:`i`, in :math:`O(|V|)`."""
        total = self.aggr_module(message, index=batch, dim_size=count_wholes(batch, num_wholes))
        return total.index_select(0, batch) - message

    def message(self, x_j: Tensor) -> Tensor:
        r"""The message of neighbour :math:`j` is :math:`g(\mathbf{h}_j)`, computed before propagation."""
        return x_j

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, "
            f"message_channels={self.message_channels})"
        )
