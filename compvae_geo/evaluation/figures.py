"""The paper's figures, drawn with matplotlib's object API (no global pyplot state)."""
from __future__ import annotations

from typing import Any

import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import Tensor
from torch_geometric.data import Batch

from compvae_geo.datasets import PartsProblem

from ..codecs import get_codec
from ..models import CompVAE, SavableModel
from .per_k import KEvaluation
from .profiles import profile_of

RECOMPOSITION_PARTS = 5  # parts in the recomposition figures (paper Fig. 5 and Fig. 7)
SIZE_GENERALITY_PART_COUNTS = (8, 16, 32, 64)  # K of the size-generality figure (within the problem's evaluation range)
SIZE_GENERALITY_SAMPLES = 6  # generated and true wholes per K in that figure
RECONSTRUCTED_WHOLES = 6  # held-out wholes in the reconstruction figure

LOSS_LABELS = {"w": "$L_w$ (parts)", "z": "$L_z$ (whole)", "x": "$L_x$ (reconstruction)", "elbo": "ELBO"}


def plot_whole(ax: Axes, whole: Tensor, observation: str, **style: Any) -> None:
    """Draws one whole of the ``observation`` family: a curve ``[T]`` as a line, an image ``[3, H, W]`` as a picture."""
    whole = whole.detach().float().cpu()
    if get_codec(observation).curves:
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


def _sum_parts(model: CompVAE, w: Tensor, parts: Tensor, part_attr: Tensor | None, chosen: slice) -> Tensor:
    """w~ ``[1, ...]`` of the chosen parts of one multiset."""
    return model.sum_parts(w[chosen], part=parts[chosen], part_attr=None if part_attr is None else part_attr[chosen])


@torch.no_grad()
def recomposition_figure(model: CompVAE, parts: Tensor, part_attr: Tensor | None = None, seed: int = 0) -> Figure:
    """Paper Fig. 5: each row shows part i alone (left) and the whole of parts 1..i (right)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        w, z = model.draw_prior(parts, 1, part_attr)  # [1, K, w_dim]; z [1, z_dim] where z comes first
        w = w[0]
        z = None if z is None else z.expand(len(w), -1)  # z first: the whole's z for every part count
        alone = model.decode(torch.cat([_sum_parts(model, w, parts, part_attr, slice(i, i + 1))
                                        for i in range(len(w))]), z).mean
        wholes = model.decode(torch.cat([_sum_parts(model, w, parts, part_attr, slice(0, i + 1))
                                         for i in range(len(w))]), z).mean
    k = parts.numel()
    figure = Figure(figsize=(8, 1.4 * k), layout="constrained")
    axes = figure.subplots(k, 2, squeeze=False)
    for i in range(k):
        plot_whole(axes[i, 0], alone[i], model.config.observation)
        plot_whole(axes[i, 1], wholes[i], model.config.observation)
        axes[i, 0].set_ylabel(f"part {i + 1}: {int(parts[i])}")
    axes[0, 0].set_title("part alone")
    axes[0, 1].set_title("whole of parts 1..i")
    return figure


def samples_figure(samples: Tensor, title: str, observation: str, reference: Tensor | None = None) -> Figure:
    """Generated wholes (and, for curves, true ones in grey) for one multiset."""
    figure = Figure(figsize=(8, 3.5), layout="constrained")
    if get_codec(observation).curves:
        ax = figure.add_subplot()
        if reference is not None:
            for whole in reference:
                plot_whole(ax, whole, observation, color="0.7", linewidth=0.8)
        for whole in samples:
            plot_whole(ax, whole, observation, linewidth=1.0)
        ax.set_title(title)
        return figure
    axes = figure.subplots(1, samples.size(0), squeeze=False)[0]
    for ax, whole in zip(axes, samples, strict=True):
        plot_whole(ax, whole, observation)
    figure.suptitle(title)
    return figure


WHATIF_SHOWN = 5  # what-if wholes drawn per row in the what-if figure of image problems


def whatif_figure(observed: Tensor, recomposed: Tensor, title: str, observation: str,
                  truth: Tensor | None = None) -> Figure:
    """An observed whole beside its what-if wholes (and the true what-if wholes, where they are known).

    Curves: the observation in black, the model's what-if curves in colour, the true ones in grey. Images: the
    observation, then a row of what-if images, and a row of true ones.
    """
    if get_codec(observation).curves:
        figure = Figure(figsize=(8, 3.5), layout="constrained")
        ax = figure.add_subplot()
        for whole in [] if truth is None else truth:
            plot_whole(ax, whole, observation, color="0.7", linewidth=0.8)
        for whole in recomposed:
            plot_whole(ax, whole, observation, color="tab:blue", linewidth=0.8, alpha=0.5)
        plot_whole(ax, observed, observation, color="black", linewidth=1.5, label="observed")
        ax.legend(loc="upper left")
        ax.set_title(title + (" (blue: recomposed, grey: true)" if truth is not None else " (blue: recomposed)"))
        return figure
    rows = [("recomposed", recomposed[:WHATIF_SHOWN])] + ([] if truth is None else [("true", truth[:WHATIF_SHOWN])])
    figure = Figure(figsize=(1.6 * (WHATIF_SHOWN + 1), 1.8 * len(rows)), layout="constrained")
    axes = figure.subplots(len(rows), WHATIF_SHOWN + 1, squeeze=False)
    for row, (label, wholes) in zip(axes, rows, strict=True):
        plot_whole(row[0], observed, observation)
        row[0].set_title("observed", fontsize=8)
        for ax in row[1:]:
            ax.set_axis_off()
        for ax, whole in zip(row[1:], wholes, strict=False):
            ax.set_axis_on()
            plot_whole(ax, whole, observation)
            ax.set_title(label, fontsize=8)
    figure.suptitle(title)
    return figure


def size_generality_figure(samples: dict[int, Tensor], truth: dict[int, Tensor], observation: str) -> Figure:
    """Generated wholes next to true ones for one multiset per K (K may exceed the training range).

    For curves one panel per K with the true wholes in grey; for images one row per K, true on the left.
    """
    ks = sorted(samples)
    if get_codec(observation).curves:
        figure = Figure(figsize=(8, 2.2 * len(ks)), layout="constrained")
        axes = figure.subplots(len(ks), 1, squeeze=False)[:, 0]
        for ax, k in zip(axes, ks, strict=True):
            for whole in truth[k]:
                plot_whole(ax, whole, observation, color="0.7", linewidth=0.8)
            for whole in samples[k]:
                plot_whole(ax, whole, observation, linewidth=1.0)
            ax.set_title(f"K = {k}: generated (colour) and true (grey)", fontsize=9)
        return figure
    columns = next(iter(samples.values())).size(0)
    figure = Figure(figsize=(1.2 * 2 * columns, 1.3 * len(ks)), layout="constrained")
    axes = figure.subplots(len(ks), 2 * columns, squeeze=False)
    for row, k in enumerate(ks):
        for col in range(columns):
            plot_whole(axes[row, col], truth[k][col], observation)
            plot_whole(axes[row, columns + col], samples[k][col], observation)
        axes[row, 0].set_ylabel(f"K = {k}")
    axes[0, 0].set_title("true")
    axes[0, columns].set_title("generated")
    return figure


@torch.no_grad()
def incremental_figure(model: SavableModel, problem: PartsProblem, parts: Tensor, part_attr: Tensor | None = None,
                       num_generated: int = 4, seed: int = 0) -> Figure:
    """Paper Fig. 7: column i is about parts 1..i.

    First row: part i alone (true generator); second row: the true whole of parts 1..i; then ``num_generated`` rows
    generated by the model.
    """
    k = parts.numel()
    generator = torch.Generator().manual_seed(seed)
    rows = 2 + num_generated
    figure = Figure(figsize=(1.6 * k, 1.4 * rows), layout="constrained")
    axes = figure.subplots(rows, k, squeeze=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for i in range(k):
            attr_i = None if part_attr is None else part_attr[i:i + 1]
            attr_upto = None if part_attr is None else part_attr[:i + 1]
            observation = problem.observation
            alone = problem.sample_wholes(parts[i:i + 1], 1, attr_i, generator=generator)[0]
            upto = problem.sample_wholes(parts[:i + 1], 1, attr_upto, generator=generator)[0]
            plot_whole(axes[0, i], alone, observation)
            plot_whole(axes[1, i], upto, observation)
            for row, whole in enumerate(model.generate(parts[:i + 1], num_generated, attr_upto), start=2):
                plot_whole(axes[row, i], whole, observation)
            axes[0, i].set_title(f"+ part {int(parts[i])}", fontsize=8)
    axes[0, 0].set_ylabel("part alone", fontsize=8)
    axes[1, 0].set_ylabel("true", fontsize=8)
    for row in range(2, rows):
        axes[row, 0].set_ylabel("generated", fontsize=8)
    return figure


@torch.no_grad()
def reconstruction_figure(model: CompVAE, batch: Batch, num_wholes: int = 6, seed: int = 0) -> Figure:
    """Held-out wholes, their reconstructions and wholes generated from the same parts.

    Held-out wholes (top), their reconstructions through q (middle) and wholes generated from
    the same parts (bottom). ``batch`` holds at least ``num_wholes`` wholes.
    """
    data = batch.to_data_list()[:num_wholes]
    batch = Batch.from_data_list(data)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        posterior = model.encode(batch)
        w_tilde = model.sum_parts(posterior.w_dist.rsample(), batch.batch, len(data), batch.part,
                                  getattr(batch, "part_attr", None))
        reconstructed = model.decode(w_tilde, posterior.z).mean
        generated = [model.generate(d.part, 1, getattr(d, "part_attr", None))[0] for d in data]
    figure = Figure(figsize=(1.6 * len(data), 4.5), layout="constrained")
    axes = figure.subplots(3, len(data), squeeze=False)
    for i, d in enumerate(data):
        plot_whole(axes[0, i], d.whole[0], model.config.observation)
        plot_whole(axes[1, i], reconstructed[i], model.config.observation)
        plot_whole(axes[2, i], generated[i], model.config.observation)
        axes[0, i].set_title(f"K = {d.part.numel()}", fontsize=8)
    for row, label in enumerate(("true", "reconstructed", "generated")):
        axes[row, 0].set_ylabel(label, fontsize=8)
    return figure


def model_figures(
    model: SavableModel, problem: PartsProblem, seed: int = 0, history: list[dict[str, float]] | None = None
) -> dict[str, Figure]:
    """Every figure of a trained model, by file name.

    The loss curves (Fig. 4, given the training ``history``), for a CompVAE the recomposition (Fig. 5) and
    reconstructions, the incremental figure (Fig. 7) and the size-generality figure (generated next to true wholes at
    large K).
    """
    figures = {}
    if history:
        figures["loss_curves.png"] = loss_curves_figure(history)
    generator = torch.Generator().manual_seed(seed)
    parts = torch.randint(0, problem.num_categories, (RECOMPOSITION_PARTS,), generator=generator)
    part_attr = problem.sample_part_attr(parts, generator)
    model = model.cpu().eval()
    if isinstance(model, CompVAE):
        figures["recomposition.png"] = recomposition_figure(model, parts, part_attr, seed=seed)
        within_training = max(profile_of(problem).part_counts[:4])  # the first four K: 1, 2, 4, 8 for both problems
        held_out = problem.sample_batch(RECONSTRUCTED_WHOLES, within_training, generator=generator)
        figures["reconstruction.png"] = reconstruction_figure(model, held_out, RECONSTRUCTED_WHOLES, seed)
    figures["incremental.png"] = incremental_figure(model, problem, parts, part_attr, seed=seed)
    samples, truth = {}, {}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for k in (k for k in SIZE_GENERALITY_PART_COUNTS if k <= max(profile_of(problem).part_counts)):
            parts = torch.randint(0, problem.num_categories, (k,), generator=generator)
            part_attr = problem.sample_part_attr(parts, generator)
            samples[k] = model.generate(parts, SIZE_GENERALITY_SAMPLES, part_attr)
            truth[k] = problem.sample_wholes(parts, SIZE_GENERALITY_SAMPLES, part_attr, generator=generator)
    if samples:
        figures["size_generality.png"] = size_generality_figure(samples, truth, problem.observation)
    return figures


def coincidence_figure(evaluation: list[KEvaluation]) -> Figure:
    """The coincidence factor against the number of parts for every source (load problems)."""
    figure = Figure(figsize=(6, 4), layout="constrained")
    ax = figure.add_subplot()
    for name in evaluation[0].distances:
        points = [(row.k, row.distances[name].planner.coincidence) for row in evaluation
                  if row.distances[name].planner is not None and row.distances[name].planner.coincidence is not None]
        if points:
            ax.plot(*zip(*points, strict=True), "o-", label=name)
    style_coincidence_axes(ax)
    return figure


def style_coincidence_axes(ax: Axes) -> None:
    """Axes of a coincidence factor against the number of households (log scale), with a legend."""
    ax.set_xscale("log", base=2)
    ax.set_xlabel("households n")
    ax.set_ylabel("coincidence factor g(n)")
    ax.grid(alpha=0.3)
    ax.legend()
