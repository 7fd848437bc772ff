"""The training presets: named (training, model) overrides on top of the dataclass defaults.

Each preset's choices were measured: see ``docs/design.md`` (why each option) and the generated
``docs/<problem>_results.md`` (what the preset reaches).
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from .config import TrainConfig

# Each preset: (training overrides, model overrides) on top of the dataclass defaults.
PRESETS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    # Fits in 20 minutes on 2 CPU cores (measured: README, Presets). Rendered part sums and no z:
    # the whole then follows from its parts. The group-factor prior draws equal parts together, as the
    # posterior encodes them (docs/design.md).
    "cpu": (dict(iterations=24_000, lr_halving_every=4_800),
            dict(render_channels=4, z_dim=0, prior_group_factor=True)),
    # The paper's schedule (section 4.3), for a GPU: about a day on a GTX 1080 in the paper.
    "paper": (
        dict(iterations=500_000, batch_size=256, lr=1e-4, lr_halving_every=20_000, lr_floor=1e-6,
             k_grow_every=3_000, kl_warmup_steps=0, eval_every=10_000, log_every=100),
        dict(hidden_dim=512, w_dim=32, z_dim=32, x_feature_dim=256, part_embed_dim=64, num_update_layers=4),
    ),
}


# Per problem, further (training, model) overrides on top of PRESETS.
PROBLEM_PRESETS: dict[str, dict[str, tuple[dict[str, Any], dict[str, Any]]]] = {
    "sine": {
        # Two eq. (5) layers instead of three: the same quality at K <= 32 for a 1.17x cheaper step
        # (docs/experiments.md, docs/performance.md).
        "cpu": ({}, dict(num_update_layers=2)),
    },
    "sites": {
        # Fits in 30 minutes on 2 CPU cores (measured: README, Presets).
        "cpu": (dict(iterations=15_000, batch_size=64, lr_halving_every=4_000, k_max=8,
                     eval_part_counts=(1, 2, 4, 8, 12, 16), eval_every=2_500),
                # No z and a count-aware prior: z took the colors (docs/experiments.md). Rendered part
                # sums; the prior reads the rest of the multiset, sites compete for pixels (docs/design.md).
                dict(w_dim=64, z_dim=0, prior_sees_count=True, x_feature_dim=128, render_channels=8,
                     prior_context_layers=2)),
        # The paper: K up to 8 in 2D.
        "paper": (dict(k_max=8, eval_part_counts=(1, 2, 4, 8, 12, 16)), dict(w_dim=128, x_feature_dim=256)),
    },
    "households": {
        # Up to 32 households per feeder. z as large as the count CVAE's: with 16 it generated far worse
        # (MMD² 2-20x higher). z first: the day's weather is drawn once, in z, and the households given it
        # (the daily-energy spread and the conditions right where the paper's order ignored them).
        # The decoder speaks for one household and each household jumps at random (the exact law of a sum
        # of n jumping households), so the whole scales with n. The group prior and the encoder do not read n (the
        # encoder reads the feeder per household), z's prior and the decoder do: read everywhere, n drifted the daily
        # energy per household by +17 % beyond training; read nowhere, a single household's peaks came out far too
        # high; z's prior blind too, its draws for one household were a feeder's (P99 peak +63 %). The daily peaks'
        # upper quantiles are still too high and the energy spread too narrow beyond training (docs/experiments.md).
        "cpu": (dict(iterations=18_000, batch_size=128, lr_halving_every=4_000, k_max=32, k_grow_every=100,
                     kl_warmup_steps=2_000, eval_part_counts=(1, 4, 16, 32, 64), eval_every=2_000),
                dict(z_dim=48, render_channels=4, prior_group_factor=True, z_first=True, per_part_decoder=True,
                     observation_jumps=True, sees_count=False, z_prior_sees_count=True)),
        "paper": (dict(k_max=32, k_grow_every=1_000, eval_part_counts=(1, 4, 16, 32, 64, 128)), {}),
    },
}


def preset(name: str, problem: str | None = "sine") -> tuple[TrainConfig, dict[str, Any]]:
    """The training config and model-config overrides of preset ``name`` for ``problem`` (None: the generic one)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; known: {sorted(PRESETS)}")
    train_overrides, model_overrides = PRESETS[name]
    problem_train, problem_model = PROBLEM_PRESETS.get(problem, {}).get(name, ({}, {}))
    config = replace(TrainConfig(problem=problem or TrainConfig.problem), **{**train_overrides, **problem_train})
    return config, {**model_overrides, **problem_model}


def preset_values(field: str) -> str:
    """What the presets set ``field`` to (a training or a model field), as ``--help`` shows it; '' where none does.

    E.g. ``"preset cpu: 0 (households: 48); paper: 32"``: the preset's own value, then its problems' where they differ.
    """
    shown = []
    for name, (train, model) in PRESETS.items():
        generic = {**train, **model}.get(field)
        per_problem = {problem: value for problem, own in PROBLEM_PRESETS.items() if name in own
                       for value in [{**own[name][0], **own[name][1]}.get(field, generic)] if value != generic}
        if generic is None and not per_problem:
            continue
        parts = [] if generic is None else [_plain(generic)]
        if per_problem:
            listed = ", ".join(f"{problem} {_plain(value)}" for problem, value in per_problem.items())
            parts.append(f"({listed})" if parts else listed)
        shown.append(f"{name}: {' '.join(parts)}")
    return "preset " + "; ".join(shown) if shown else ""


def _plain(value: Any) -> str:
    return ",".join(str(v) for v in value) if isinstance(value, tuple) else str(value)
