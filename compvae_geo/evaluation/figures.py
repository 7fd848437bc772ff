"""The paper's figures, drawn with matplotlib's object API (no global pyplot state)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import Tensor
from torch_geometric.data import Batch

from compvae_geo.datasets import DataEncoding, PartsProblem

from ..codecs import get_codec
from ..models import CompVAE, SavableModel
from .profiles import profile_of

RECOMPOSITION_PARTS = 5  # parts in the recomposition figures (paper Fig. 5 and Fig. 7)
SIZE_GENERALITY_PART_COUNTS = (8, 16, 32, 64)  # K of the size-generality figure (within the problem's evaluation range)
SIZE_GENERALITY_SAMPLES = 6  # generated and true wholes per K in that figure
RECONSTRUCTED_WHOLES = 6  # held-out wholes in the reconstruction figure

LOSS_LABELS = {"w": "$L_w$ (parts)", "z": "$L_z$ (whole)", "x": "$L_x$ (reconstruction)", "elbo": "ELBO"}


@dataclass(frozen=True)
class WholeLook:
    """How the wholes of a problem or of a model's files are drawn: their family, time axis, unit and part names."""

    observation: str  # the codec family: curves are drawn as lines, images as pictures
    step_hours: float | None = None  # hours per step of a curve (time axes in hours), None: steps
    unit: str | None = None  # the values' unit (the y axes)
    names: tuple[str, ...] = ()  # the part categories' labels, by id

    @classmethod
    def of(cls, observation: str, terms: DataEncoding | None = None) -> WholeLook:
        """The look of wholes of ``observation`` read with the encoding ``terms`` (a problem's or a model's files')."""
        if terms is None:
            return cls(observation)
        return cls(observation, terms.step_hours, terms.unit, tuple(terms.vocabulary))

    @property
    def curves(self) -> bool:  # noqa: D102
        return get_codec(self.observation).curves

    def name(self, category: int) -> str:
        """A part category by its label where known."""
        return self.names[category] if 0 <= category < len(self.names) else str(category)

    def label(self, ax: Axes, x: bool = True, y: bool = True) -> None:
        """The axis labels of a curve panel: hours and the unit where known."""
        if not self.curves:
            return
        if x:
            ax.set_xlabel("hour" if self.step_hours else "step")
        if y and self.unit:
            ax.set_ylabel(self.unit)


def plot_whole(ax: Axes, whole: Tensor, look: WholeLook, **style: Any) -> None:
    """Draws one whole: a curve ``[T]`` as a line (against hours where the look has them), an image as a picture."""
    whole = whole.detach().float().cpu()
    if look.curves:
        steps = torch.arange(whole.numel(), dtype=torch.float64)
        ax.plot((steps * look.step_hours if look.step_hours else steps).numpy(), whole.numpy(), **style)
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
def recomposition_figure(model: CompVAE, parts: Tensor, part_attr: Tensor | None = None, seed: int = 0,
                         look: WholeLook | None = None) -> Figure:
    """Paper Fig. 5: each row shows part i alone (left) and the whole of parts 1..i (right)."""
    look = look or WholeLook(model.config.observation)
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
    axes = figure.subplots(k, 2, squeeze=False, sharex=True)
    for i in range(k):
        plot_whole(axes[i, 0], alone[i], look)
        plot_whole(axes[i, 1], wholes[i], look)
        axes[i, 0].set_ylabel(f"{i + 1}: {look.name(int(parts[i]))}" + (f" ({look.unit})" if look.unit else ""),
                              fontsize=8)
    for ax in axes[-1]:
        look.label(ax, y=False)
    axes[0, 0].set_title("part alone")
    axes[0, 1].set_title("whole of parts 1..i")
    return figure


def samples_figure(samples: Tensor, title: str, look: WholeLook, reference: Tensor | None = None) -> Figure:
    """Generated wholes (and, for curves, true ones in grey) for one multiset."""
    figure = Figure(figsize=(8, 3.5), layout="constrained")
    if look.curves:
        ax = figure.add_subplot()
        if reference is not None:
            for whole in reference:
                plot_whole(ax, whole, look, color="0.7", linewidth=0.8)
        for whole in samples:
            plot_whole(ax, whole, look, linewidth=1.0)
        ax.set_title(title)
        look.label(ax)
        return figure
    axes = figure.subplots(1, samples.size(0), squeeze=False)[0]
    for ax, whole in zip(axes, samples, strict=True):
        plot_whole(ax, whole, look)
    figure.suptitle(title)
    return figure


WHATIF_SHOWN = 5  # what-if wholes drawn per row in the what-if figure of image problems


def whatif_figure(observed: Tensor, recomposed: Tensor, title: str, look: WholeLook,
                  truth: Tensor | None = None) -> Figure:
    """An observed whole beside its what-if wholes (and the true what-if wholes, where they are known).

    Curves: the observation in black, the model's what-if curves in colour, the true ones in grey. Images: the
    observation, then a row of what-if images, and a row of true ones.
    """
    if look.curves:
        figure = Figure(figsize=(8, 3.5), layout="constrained")
        ax = figure.add_subplot()
        for whole in [] if truth is None else truth:
            plot_whole(ax, whole, look, color="0.7", linewidth=0.8)
        for whole in recomposed:
            plot_whole(ax, whole, look, color="tab:blue", linewidth=0.8, alpha=0.5)
        plot_whole(ax, observed, look, color="black", linewidth=1.5, label="observed")
        ax.legend(loc="upper left")
        ax.set_title(title + (" (blue: recomposed, grey: true)" if truth is not None else " (blue: recomposed)"))
        look.label(ax)
        return figure
    rows = [("recomposed", recomposed[:WHATIF_SHOWN])] + ([] if truth is None else [("true", truth[:WHATIF_SHOWN])])
    figure = Figure(figsize=(1.6 * (WHATIF_SHOWN + 1), 1.8 * len(rows)), layout="constrained")
    axes = figure.subplots(len(rows), WHATIF_SHOWN + 1, squeeze=False)
    for row, (label, wholes) in zip(axes, rows, strict=True):
        plot_whole(row[0], observed, look)
        row[0].set_title("observed", fontsize=8)
        for ax in row[1:]:
            ax.set_axis_off()
        for ax, whole in zip(row[1:], wholes, strict=False):
            ax.set_axis_on()
            plot_whole(ax, whole, look)
            ax.set_title(label, fontsize=8)
    figure.suptitle(title)
    return figure


def size_generality_figure(samples: dict[int, Tensor], truth: dict[int, Tensor], look: WholeLook) -> Figure:
    """Generated wholes next to true ones for one multiset per K (K may exceed the training range).

    For curves one panel per K with the true wholes in grey; for images one row per K, true on the left.
    """
    ks = sorted(samples)
    if look.curves:
        figure = Figure(figsize=(8, 2.2 * len(ks)), layout="constrained")
        axes = figure.subplots(len(ks), 1, squeeze=False, sharex=True)[:, 0]
        for ax, k in zip(axes, ks, strict=True):
            for whole in truth[k]:
                plot_whole(ax, whole, look, color="0.7", linewidth=0.8)
            for whole in samples[k]:
                plot_whole(ax, whole, look, linewidth=1.0)
            ax.set_title(f"K = {k}: generated (colour) and true (grey)", fontsize=9)
            look.label(ax, x=ax is axes[-1])
        return figure
    columns = next(iter(samples.values())).size(0)
    figure = Figure(figsize=(1.2 * 2 * columns, 1.3 * len(ks)), layout="constrained")
    axes = figure.subplots(len(ks), 2 * columns, squeeze=False)
    for row, k in enumerate(ks):
        for col in range(columns):
            plot_whole(axes[row, col], truth[k][col], look)
            plot_whole(axes[row, columns + col], samples[k][col], look)
        axes[row, 0].set_ylabel(f"K = {k}")
    axes[0, 0].set_title("true")
    axes[0, columns].set_title("generated")
    return figure


@torch.no_grad()
def incremental_figure(model: SavableModel, problem: PartsProblem, parts: Tensor, part_attr: Tensor | None = None,
                       num_generated: int = 4, seed: int = 0, look: WholeLook | None = None) -> Figure:
    """Paper Fig. 7: column i is about parts 1..i, on one y-scale per column.

    First row: part i alone (true generator); second row: the true whole of parts 1..i; then ``num_generated`` rows
    generated by the model (draws of p(x | ...) where the problem's wholes are noisy, as the evaluation compares).
    """
    look = look or WholeLook.of(problem.observation, problem.encoding)
    noisy = problem.noisy_wholes
    k = parts.numel()
    generator = torch.Generator().manual_seed(seed)
    rows = 2 + num_generated
    figure = Figure(figsize=(1.8 * k, 1.4 * rows), layout="constrained")
    axes = figure.subplots(rows, k, squeeze=False, sharex=True, sharey="col" if look.curves else False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for i in range(k):
            attr_i = None if part_attr is None else part_attr[i:i + 1]
            attr_upto = None if part_attr is None else part_attr[:i + 1]
            alone = problem.sample_wholes(parts[i:i + 1], 1, attr_i, generator=generator)[0]
            upto = problem.sample_wholes(parts[:i + 1], 1, attr_upto, generator=generator)[0]
            plot_whole(axes[0, i], alone, look)
            plot_whole(axes[1, i], upto, look)
            generated = model.generate(parts[:i + 1], num_generated, attr_upto, observation_noise=noisy)
            for row, whole in enumerate(generated, start=2):
                plot_whole(axes[row, i], whole, look)
            axes[0, i].set_title(f"+ {look.name(int(parts[i]))}", fontsize=8)
            look.label(axes[-1, i], y=False)
    unit = f" ({look.unit})" if look.unit else ""
    axes[0, 0].set_ylabel("part alone" + unit, fontsize=8)
    axes[1, 0].set_ylabel("true" + unit, fontsize=8)
    for row in range(2, rows):
        axes[row, 0].set_ylabel("generated" + unit, fontsize=8)
    return figure


@torch.no_grad()
def reconstruction_figure(model: CompVAE, batch: Batch, num_wholes: int = 6, seed: int = 0,
                          look: WholeLook | None = None) -> Figure:
    """Held-out wholes, their reconstructions and wholes generated from the same parts, on one y-scale per column.

    Held-out wholes (top), their reconstructions through q (middle) and wholes generated from
    the same parts (bottom). ``batch`` holds at least ``num_wholes`` wholes.
    """
    look = look or WholeLook(model.config.observation)
    data = batch.to_data_list()[:num_wholes]
    batch = Batch.from_data_list(data)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        posterior = model.encode(batch)
        w_tilde = model.sum_parts(posterior.w_dist.rsample(), batch.batch, len(data), batch.part,
                                  getattr(batch, "part_attr", None))
        reconstructed = model.decode(w_tilde, posterior.z).mean
        generated = [model.generate(d.part, 1, getattr(d, "part_attr", None))[0] for d in data]
    figure = Figure(figsize=(1.8 * len(data), 4.5), layout="constrained")
    axes = figure.subplots(3, len(data), squeeze=False, sharex=True, sharey="col" if look.curves else False)
    for i, d in enumerate(data):
        plot_whole(axes[0, i], d.whole[0], look)
        plot_whole(axes[1, i], reconstructed[i], look)
        plot_whole(axes[2, i], generated[i], look)
        axes[0, i].set_title(f"K = {d.part.numel()}", fontsize=8)
        look.label(axes[-1, i], y=False)
    unit = f" ({look.unit})" if look.unit else ""
    for row, label in enumerate(("true", "reconstructed (mean)", "generated (mean)")):
        axes[row, 0].set_ylabel(label + unit, fontsize=8)
    return figure


def model_figures(
    model: SavableModel, problem: PartsProblem, seed: int = 0, history: list[dict[str, float]] | None = None
) -> dict[str, Figure]:
    """Every figure of a trained model, by file name.

    The loss curves (Fig. 4, given the training ``history``), for a CompVAE the recomposition (Fig. 5) and
    reconstructions, the incremental figure (Fig. 7) and the size-generality figure (generated next to true wholes at
    large K, with the observation noise where the problem's wholes are noisy, as the evaluation compares them).
    """
    figures = {}
    if history:
        figures["loss_curves.png"] = loss_curves_figure(history)
    look = WholeLook.of(problem.observation, problem.encoding)
    generator = torch.Generator().manual_seed(seed)
    parts = torch.randint(0, problem.num_categories, (RECOMPOSITION_PARTS,), generator=generator)
    part_attr = problem.sample_part_attr(parts, generator)
    model = model.cpu().eval()
    if isinstance(model, CompVAE):
        figures["recomposition.png"] = recomposition_figure(model, parts, part_attr, seed, look)
        within_training = max(profile_of(problem).part_counts[:4])  # the first four K: 1, 2, 4, 8 for both problems
        held_out = problem.sample_batch(RECONSTRUCTED_WHOLES, within_training, generator=generator)
        figures["reconstruction.png"] = reconstruction_figure(model, held_out, RECONSTRUCTED_WHOLES, seed, look)
    figures["incremental.png"] = incremental_figure(model, problem, parts, part_attr, seed=seed, look=look)
    samples, truth = {}, {}
    noisy = problem.noisy_wholes
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for k in (k for k in SIZE_GENERALITY_PART_COUNTS if k <= max(profile_of(problem).part_counts)):
            parts = torch.randint(0, problem.num_categories, (k,), generator=generator)
            part_attr = problem.sample_part_attr(parts, generator)
            samples[k] = model.generate(parts, SIZE_GENERALITY_SAMPLES, part_attr, observation_noise=noisy)
            truth[k] = problem.sample_wholes(parts, SIZE_GENERALITY_SAMPLES, part_attr, generator=generator)
    if samples:
        figures["size_generality.png"] = size_generality_figure(samples, truth, look)
    return figures
