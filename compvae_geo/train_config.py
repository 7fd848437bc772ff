"""Configuration of a training run, and its presets."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from .config import PlainDataConfig


@dataclass
class TrainConfig(PlainDataConfig):
    """How to train a CompVAE (paper section 4.3); saved in every checkpoint and logged to MLflow."""

    problem: str = "sine"  # which problem to learn, a key of compvae_geo.problems.PROBLEMS
    model: str = "compvae"  # which model: "compvae", or the baseline "count_cvae" (compvae_geo.models.MODELS)
    iterations: int = 30_000  # optimisation steps (one fresh batch each)
    batch_size: int = 128  # wholes per batch (the paper: 256)
    lr: float = 3e-3  # initial Adam learning rate (the paper: 1e-4 over 500,000 steps)
    lr_halving_every: int = 6_000  # the learning rate is halved every this many steps...
    lr_floor: float = 1e-6  # ...down to this floor
    beta1: float = 0.5  # Adam beta1 (the paper's value)
    beta2: float = 0.9  # Adam beta2 (the paper's value)
    kl_warmup_steps: int = 3_000  # L_w + L_z weighted 0 -> 1 over these steps against posterior collapse (0: off, the paper)
    k_start: int = 2  # curriculum: largest K at step 0 (K uniform in [1, K_max] per whole)
    k_grow_every: int = 300  # curriculum: K_max grows by 1 every this many steps...
    k_max: int = 16  # ...up to this many parts (the paper: 16 in 1D, 8 in 2D)
    seed: int = 0  # seeds the weights, the data and the latent noise (a CPU run is reproducible)
    device: str = "auto"  # "auto" (CUDA when present), "cpu", "cuda", "cuda:1", ...
    bf16: bool = False  # bfloat16 autocast on CUDA
    log_every: int = 50  # steps between metric logs (metrics are sent in one batch each time)
    eval_every: int = 2_000  # steps between held-out evaluations
    eval_part_counts: tuple[int, ...] = (1, 2, 4, 8, 12, 16, 24, 32)  # K of the held-out sets
    eval_wholes: int = 256  # held-out wholes per K
    checkpoint_minutes: float = 5.0  # wall-clock minutes between checkpoints (and one at the end)
    # With a model that has ``fitted_prior``: steps after ``iterations`` that fit only that generation
    # prior to the posterior of the trained, frozen model (0: fit it alongside training instead)
    prior_fit_steps: int = 0
    prior_fit_lr: float = 1e-3  # learning rate of those steps, halved for their second half
    # After this many skipped (non-finite) steps in a row, the weights and optimizer state go back to
    # those of the last log interval that had a finite step, and training goes on (0: never)
    restore_after_skips: int = 100

    def __post_init__(self) -> None:
        self.eval_part_counts = tuple(int(k) for k in self.eval_part_counts)
        positive = ("iterations", "batch_size", "lr_halving_every", "k_start", "k_grow_every", "k_max",
                    "log_every", "eval_every", "eval_wholes")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 < self.lr_floor <= self.lr:
            raise ValueError(f"need 0 < lr_floor <= lr, got {self.lr_floor} and {self.lr}")
        if self.k_start > self.k_max:
            raise ValueError(f"k_start ({self.k_start}) must not exceed k_max ({self.k_max})")
        if self.kl_warmup_steps < 0:
            raise ValueError(f"kl_warmup_steps must be >= 0, got {self.kl_warmup_steps}")
        if self.checkpoint_minutes <= 0:
            raise ValueError("checkpoint_minutes must be > 0")
        if self.restore_after_skips < 0:
            raise ValueError(f"restore_after_skips must be >= 0, got {self.restore_after_skips}")
        if self.prior_fit_steps < 0 or self.prior_fit_lr <= 0:
            raise ValueError(f"need prior_fit_steps >= 0 and prior_fit_lr > 0, got {self.prior_fit_steps} "
                             f"and {self.prior_fit_lr}")

    @property
    def total_steps(self) -> int:
        """``iterations``, then ``prior_fit_steps``."""
        return self.iterations + self.prior_fit_steps

    def fits_prior_after_training(self, step: int) -> bool:
        """Whether step ``step`` (0-based) is one of the ``prior_fit_steps`` after training."""
        return self.prior_fit_steps > 0 and step >= self.iterations

    def learning_rate_at(self, step: int) -> float:
        """Halved every ``lr_halving_every`` steps, never below ``lr_floor``; after ``iterations``,
        ``prior_fit_lr``, halved for the second half of the ``prior_fit_steps``."""
        if self.fits_prior_after_training(step):
            return self.prior_fit_lr * 0.5 ** (2 * (step - self.iterations) // max(self.prior_fit_steps, 1))
        return max(self.lr * 0.5 ** (step // self.lr_halving_every), self.lr_floor)

    def kl_weight_at(self, step: int) -> float:
        """Weight of L_w + L_z in the training gradient: rises linearly from 0 to 1 over
        ``kl_warmup_steps`` (the logged ELBO is always the true, unweighted one)."""
        return min(1.0, step / self.kl_warmup_steps) if self.kl_warmup_steps else 1.0

    def max_parts_at(self, step: int) -> int:
        """The curriculum's K_max: ``k_start``, +1 every ``k_grow_every`` steps, up to ``k_max``."""
        return min(self.k_start + step // self.k_grow_every, self.k_max)


# Each preset: (training overrides, model overrides) on top of the dataclass defaults.
PRESETS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    # Fits in 20 minutes on 2 CPU cores (see README for the measured time and quality). Rendered
    # part sums and no z: measured in README (1D results), the whole then follows from its parts.
    # The group-factor prior draws equal parts together, as the posterior encodes them (README, both problems).
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
    "sites": {
        # Fits in 30 minutes on 2 CPU cores (see README for the measured time and quality).
        "cpu": (dict(iterations=15_000, batch_size=64, lr_halving_every=4_000, k_max=8,
                     eval_part_counts=(1, 2, 4, 8, 12, 16), eval_every=2_500),
                # No z and a count-aware prior: measured in docs (README, 2D results), z took the colors.
                # Rendered part sums; the fitted generation prior helped one run and hurt another (README).
                # The prior reads the rest of the multiset (sites compete for pixels): measured in README.
                dict(w_dim=64, z_dim=0, prior_sees_count=True, x_feature_dim=128, render_channels=8,
                     prior_context_layers=2)),
        # The paper: K up to 8 in 2D.
        "paper": (dict(k_max=8, eval_part_counts=(1, 2, 4, 8, 12, 16)), dict(w_dim=128, x_feature_dim=256)),
    },
}


def preset(name: str, problem: str = "sine") -> tuple[TrainConfig, dict[str, Any]]:
    """The training config and model-config overrides of preset ``name`` for ``problem``."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; known: {sorted(PRESETS)}")
    train_overrides, model_overrides = PRESETS[name]
    problem_train, problem_model = PROBLEM_PRESETS.get(problem, {}).get(name, ({}, {}))
    config = replace(TrainConfig(problem=problem), **{**train_overrides, **problem_train})
    return config, {**model_overrides, **problem_model}
