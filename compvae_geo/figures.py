"""The paper's figures, drawn with matplotlib's object API (no global pyplot state)."""
from __future__ import annotations

import torch
from matplotlib.figure import Figure
from torch import Tensor

from .model import CompVAE

LOSS_LABELS = {"w": "$L_w$ (parts)", "z": "$L_z$ (whole)", "x": "$L_x$ (reconstruction)", "elbo": "ELBO"}


def plot_whole(ax, whole: Tensor, **style) -> None:
    """Draws one whole: a curve ``[T]`` as a line, an image ``[3, H, W]`` as a picture."""
    whole = whole.detach().float().cpu()
    if whole.dim() == 1:
        ax.plot(whole.numpy(), **style)
    else:
        ax.imshow(whole.permute(1, 2, 0).clamp(0, 1).numpy())
        ax.set_xticks([])
        ax.set_yticks([])


def loss_curves_figure(history: list[dict[str, float]]) -> Figure:
    """Paper Fig. 4: the loss terms in bits over training, on a (symmetric) log scale."""
    figure = Figure(figsize=(7, 4), layout="constrained")
    ax = figure.add_subplot()
    steps = [entry["step"] for entry in history]
    for key, label in LOSS_LABELS.items():
        ax.plot(steps, [entry[key] for entry in history], label=label)
    ax.set_yscale("symlog")  # L_x may fall below zero: a density, not a probability
    ax.set_xlabel("iteration")
    ax.set_ylabel("bits per whole")
    ax.legend()
    ax.grid(alpha=0.3)
    return figure


@torch.no_grad()
def recomposition_figure(model: CompVAE, parts: Tensor, part_attr: Tensor | None = None, seed: int = 0) -> Figure:
    """Paper Fig. 5: each row shows part i alone (left) and the whole of parts 1..i (right)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        w = model.prior_latents(parts, 1, part_attr)[0]  # [K, w_dim]
        alone = model.decode(torch.cat([model.sum_parts(w[i:i + 1]) for i in range(len(w))])).mean
        wholes = model.decode(torch.cat([model.sum_parts(w[:i + 1]) for i in range(len(w))])).mean
    k = parts.numel()
    figure = Figure(figsize=(8, 1.4 * k), layout="constrained")
    axes = figure.subplots(k, 2, squeeze=False)
    for i in range(k):
        plot_whole(axes[i, 0], alone[i])
        plot_whole(axes[i, 1], wholes[i])
        axes[i, 0].set_ylabel(f"part {i + 1}: {int(parts[i])}")
    axes[0, 0].set_title("part alone")
    axes[0, 1].set_title("whole of parts 1..i")
    return figure


def samples_figure(samples: Tensor, title: str, reference: Tensor | None = None) -> Figure:
    """Generated wholes (and, for curves, true ones in grey) for one multiset."""
    figure = Figure(figsize=(8, 3.5), layout="constrained")
    if samples.dim() == 2:
        ax = figure.add_subplot()
        if reference is not None:
            for whole in reference:
                plot_whole(ax, whole, color="0.7", linewidth=0.8)
        for whole in samples:
            plot_whole(ax, whole, linewidth=1.0)
        ax.set_title(title)
        return figure
    axes = figure.subplots(1, samples.size(0), squeeze=False)[0]
    for ax, whole in zip(axes, samples):
        plot_whole(ax, whole)
    figure.suptitle(title)
    return figure


def size_generality_figure(samples: dict[int, Tensor], truth: dict[int, Tensor]) -> Figure:
    """Generated wholes next to true ones for one multiset per K (K may exceed the training range):
    for curves one panel per K with the true wholes in grey; for images one row per K, true on the left."""
    ks = sorted(samples)
    curves = next(iter(samples.values())).dim() == 2
    if curves:
        figure = Figure(figsize=(8, 2.2 * len(ks)), layout="constrained")
        axes = figure.subplots(len(ks), 1, squeeze=False)[:, 0]
        for ax, k in zip(axes, ks):
            for whole in truth[k]:
                plot_whole(ax, whole, color="0.7", linewidth=0.8)
            for whole in samples[k]:
                plot_whole(ax, whole, linewidth=1.0)
            ax.set_title(f"K = {k}: generated (colour) and true (grey)", fontsize=9)
        return figure
    columns = next(iter(samples.values())).size(0)
    figure = Figure(figsize=(1.2 * 2 * columns, 1.3 * len(ks)), layout="constrained")
    axes = figure.subplots(len(ks), 2 * columns, squeeze=False)
    for row, k in enumerate(ks):
        for col in range(columns):
            plot_whole(axes[row, col], truth[k][col])
            plot_whole(axes[row, columns + col], samples[k][col])
        axes[row, 0].set_ylabel(f"K = {k}")
    axes[0, 0].set_title("true")
    axes[0, columns].set_title("generated")
    return figure
