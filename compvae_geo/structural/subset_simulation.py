r"""Sampling the tail of a statistic of a model driven by standard-normal noise, without brute-force rejection.

A generative model that maps standard-normal noise :math:`\xi \sim \mathcal{N}(0, I)` to a whole
:math:`x = G(\xi)` defines, for a statistic :math:`s(x)` and a level :math:`t`, the conditional law
:math:`\mathcal{N}(0, I)` restricted to :math:`\{s(G(\xi)) > t\}`. Its preconditioned Crank-Nicolson (pCN)
chain proposes :math:`\xi' = \sqrt{1 - \beta^2}\,\xi + \beta\,\nu`, :math:`\nu \sim \mathcal{N}(0, I)`, which
leaves :math:`\mathcal{N}(0, I)` invariant, and accepts exactly when :math:`s(G(\xi')) > t`: the restricted law
is then invariant too, whatever the dimension.

The level :math:`t_q`, the q-quantile of :math:`s` under the model, is found on the way by subset simulation
(Au & Beck 2001): a population drawn from the noise, then levels each exceeded by a share ``level_probability``
of the previous level's population, refilled by pCN moves from the particles above it, until the remaining
probability :math:`(1 - q) / p_0^m` is reached. The population is split into independent replicates, whose
spread gives the Monte-Carlo error of :math:`t_q`. Then chains started from the particles above :math:`t_q`
(after a burn-in, with the step size adapted during the levels and then fixed) give the samples, and their
integrated autocorrelation time gives the number of effectively independent ones.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

Noise = list[Tensor]  # standard-normal tensors, each [chains, ...]
TARGET_ACCEPTANCE = (0.25, 0.5)  # the pCN step is shrunk below, grown above
STEP_CHANGE = 1.25  # factor by which the pCN step changes


@dataclass
class TailSettings:
    """How the tail sampler spends its evaluations."""

    population: int = 1000  # particles of the subset simulation, over all replicates
    replicates: int = 4  # independent sub-populations: their spread is the error of the quantile
    level_probability: float = 0.1  # share of a level's particles above the next level
    steps_per_level: int = 5  # pCN moves of each particle at each level
    burn_in: int = 20  # pCN moves of each sampling chain before its states are kept (decorrelates the seeds)
    chains: int = 500  # sampling chains, started from particles above the final level
    initial_step: float = 0.5  # beta of the first pCN move

    def __post_init__(self) -> None:
        if self.replicates < 1 or self.population < 10 * self.replicates:
            raise ValueError(f"need replicates >= 1 and population >= 10 per replicate, got {self.population} "
                             f"and {self.replicates}")
        if not 0 < self.level_probability < 1:
            raise ValueError(f"level_probability must be in (0, 1), got {self.level_probability}")
        if self.steps_per_level < 1 or self.burn_in < 0 or self.chains < 1:
            raise ValueError("steps_per_level and chains must be >= 1, burn_in >= 0")
        if not 0 < self.initial_step <= 1:
            raise ValueError(f"initial_step must be in (0, 1], got {self.initial_step}")


@dataclass
class TailDraw:
    """Noise whose statistic exceeds the estimated quantile, and what it cost."""

    noise: Noise  # [num_samples, ...] each
    statistic: Tensor  # [num_samples]
    threshold: float  # the estimated q-quantile t_q of the statistic
    threshold_error: float  # its Monte-Carlo standard error (spread of the replicates)
    evaluations: int  # wholes the model generated (statistic evaluations) in all
    chain_evaluations: int  # of which by the sampling chains after their burn-in (what more samples cost)
    effective_samples: float  # num_samples over the chains' integrated autocorrelation time of the statistic
    acceptance: float  # acceptance rate of the sampling chains
    step: float  # their pCN beta


def _take(noise: Noise, index: Tensor) -> Noise:
    return [tensor[index] for tensor in noise]


def _pcn_proposal(noise: Noise, step: float) -> Noise:
    keep = math.sqrt(1 - step**2)
    return [keep * tensor + step * torch.randn_like(tensor) for tensor in noise]


def _adapt(step: float, acceptance: float) -> float:
    low, high = TARGET_ACCEPTANCE
    if acceptance < low:
        return step / STEP_CHANGE
    if acceptance > high:
        return min(1.0, step * STEP_CHANGE)
    return step


def integrated_autocorrelation_time(series: Tensor) -> float:
    """Integrated autocorrelation time of chains ``[chains, steps]`` (Sokal's window, the chains' mean autocovariance).

    1 for independent states; the number of steps per effectively independent state.
    """
    chains, steps = series.shape
    if steps < 2:
        return 1.0
    centred = series - series.mean()
    variance = centred.pow(2).mean()
    if variance <= 0:
        return 1.0
    tau = 1.0
    for lag in range(1, steps):
        rho = float((centred[:, lag:] * centred[:, :-lag]).mean() / variance)
        tau += 2 * rho
        if lag >= 5 * tau:  # Sokal's automatic window
            break
    return max(tau, 1.0)


@torch.no_grad()
def sample_tail(
    draw: Callable[[int], Noise],
    statistic: Callable[[Noise], Tensor],
    quantile: float,
    num_samples: int,
    settings: TailSettings | None = None,
) -> TailDraw:
    """Draws of the noise conditioned on ``statistic`` exceeding its ``quantile``, by subset simulation and pCN.

    Args:
        draw: ``n`` -> fresh standard-normal noise for ``n`` wholes (a list of tensors ``[n, ...]``).
        statistic: noise of ``n`` wholes -> the statistic of each ``[n]`` (one model evaluation per whole).
        quantile: q in (0, 1): the samples exceed the estimated q-quantile of the statistic.
        num_samples: samples to return.
        settings: the population, replicates, level probability, moves and chains (:class:`TailSettings`).
    """
    settings = settings or TailSettings()
    if not 0 < quantile < 1:
        raise ValueError(f"quantile must be in (0, 1), got {quantile}")
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    noise, scores, level, owner, step, evaluations = _subset_simulation(draw, statistic, quantile, settings)
    replicates = settings.replicates
    threshold = float(level.mean())
    threshold_error = float(level.std() / math.sqrt(replicates)) if replicates > 1 else math.nan
    chains = min(settings.chains, num_samples)
    noise, scores = _chain_seeds(noise, scores, level[owner], threshold, chains)
    level_of_chain = torch.full((chains,), threshold, dtype=scores.dtype)
    noise, scores, step, _, used = _pcn_moves(noise, scores, level_of_chain, statistic, step, settings.burn_in,
                                              adapt=True)
    evaluations += used
    steps = math.ceil(num_samples / chains)
    kept_noise, kept_scores, accepted, chain_evaluations = [], [], 0.0, 0
    for _ in range(steps):
        noise, scores, step, acceptance, used = _pcn_moves(noise, scores, level_of_chain, statistic, step, 1,
                                                           adapt=False)
        chain_evaluations += used
        accepted += acceptance
        kept_noise.append(noise)
        kept_scores.append(scores)
    series = torch.stack(kept_scores, 1)  # [chains, steps]
    tau = integrated_autocorrelation_time(series.double())
    # chain by chain: state t of chain c at c * steps + t
    flat_noise = [torch.stack([n[i] for n in kept_noise], 1).flatten(0, 1) for i in range(len(noise))]
    return TailDraw([tensor[:num_samples] for tensor in flat_noise], series.flatten()[:num_samples], threshold,
                    threshold_error, evaluations + chain_evaluations, chain_evaluations,
                    min(num_samples, chains * steps) / tau, accepted / steps, step)


def _subset_simulation(
    draw: Callable[[int], Noise], statistic: Callable[[Noise], Tensor], quantile: float, settings: TailSettings,
) -> tuple[Noise, Tensor, Tensor, Tensor, float, int]:
    """The levels of subset simulation down to the q-quantile, in independent replicates.

    Returns the final population's noise and scores, each replicate's level ``[replicates]``, the replicate of each
    particle, the adapted pCN step and the evaluations used.
    """
    replicates = settings.replicates
    per_replicate = settings.population // replicates
    population = per_replicate * replicates
    noise = draw(population)
    scores = statistic(noise)
    evaluations, step = population, settings.initial_step
    remaining = 1.0 - quantile  # probability still to go below the current level
    owner = torch.arange(replicates).repeat_interleave(per_replicate)
    while True:
        final = remaining >= settings.level_probability
        share = remaining if final else settings.level_probability
        level = torch.quantile(scores.view(replicates, per_replicate).double(), 1 - share, dim=1).to(scores.dtype)
        if final:
            return noise, scores, level, owner, step, evaluations
        remaining /= settings.level_probability
        # refill each replicate from its particles above the level, then move them within it
        above = scores > level[owner]
        weights = above.view(replicates, per_replicate).double()
        picks = torch.multinomial(weights, per_replicate, replacement=True) + \
            (torch.arange(replicates) * per_replicate)[:, None]
        noise, scores = _take(noise, picks.flatten()), scores[picks.flatten()]
        noise, scores, step, _, used = _pcn_moves(noise, scores, level[owner], statistic, step,
                                                  settings.steps_per_level, adapt=True)
        evaluations += used


def _chain_seeds(noise: Noise, scores: Tensor, level: Tensor, threshold: float, chains: int) -> tuple[Noise, Tensor]:
    """The starting states of ``chains`` sampling chains, drawn from the particles above the levels.

    Above their replicate's ``level`` (one per particle), and above the pooled ``threshold``: a seed may lie between
    its replicate's level and the pooled one.
    """
    above = (scores > level).nonzero()[:, 0]
    seeds = above[torch.randint(above.numel(), (chains,))]
    noise, scores = _take(noise, seeds), scores[seeds]
    inside = scores > threshold
    if not inside.all():
        good = inside.nonzero()[:, 0]
        if good.numel() == 0:
            raise RuntimeError("no particle above the estimated quantile: raise the population")
        replacement = good[torch.randint(good.numel(), (chains,))]
        noise, scores = _take(noise, replacement), scores[replacement]
    return noise, scores


def _pcn_moves(
    noise: Noise, scores: Tensor, level: Tensor, statistic: Callable[[Noise], Tensor], step: float, moves: int,
    adapt: bool,
) -> tuple[Noise, Tensor, float, float, int]:
    """``moves`` pCN moves of every chain restricted to ``scores > level`` (per chain).

    Returns the noise, its scores, the step (adapted after each move with ``adapt``), the last move's acceptance
    rate and the evaluations used.
    """
    acceptance, used = 1.0, 0
    for _ in range(moves):
        proposal = _pcn_proposal(noise, step)
        proposed = statistic(proposal)
        used += proposed.numel()
        accept = proposed > level
        acceptance = float(accept.float().mean())
        noise = [torch.where(accept.view(-1, *[1] * (new.dim() - 1)), new, old) for new, old in zip(proposal, noise,
                                                                                                      strict=True)]
        scores = torch.where(accept, proposed, scores)
        if adapt:
            step = _adapt(step, acceptance)
    return noise, scores, step, acceptance, used
