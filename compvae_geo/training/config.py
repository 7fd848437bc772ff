"""Configuration of a training run."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..plain_config import PlainDataConfig

MODEL_NAMES = ("compvae", "count_cvae")  # the keys of compvae_geo.models.MODELS, here without importing torch


@dataclass
class TrainConfig(PlainDataConfig):
    """How to train a CompVAE (paper section 4.3); saved in every checkpoint and logged to MLflow."""

    problem: str = "sine"  # which problem to learn, a key of compvae_geo.problems.PROBLEM_CLASSES
    # a directory of your own wholes and parts (docs/data_format.md) to learn from instead of the problem's generator
    data: str = ""
    val_fraction: float = 0.1  # with data: the share of split keys held out to validate (the held-out ELBO)...
    test_fraction: float = 0.1  # ...and to test (compvae-geo evaluate --data)
    split_by: str = "multiset"  # with data: what a split keeps whole: "whole", "multiset" or the group column
    drop_incomplete: bool = False  # with data: leave out the wholes with a missing value (else they are refused)
    epochs: float = 0.0  # with data: train this many passes over the training split (sets iterations; 0: iterations)
    # stop when the held-out ELBO has not improved for this many evaluations, keeping the best weights in best.pt
    # beside the checkpoint (0: train all iterations, no best.pt)
    patience: int = 0
    model: str = "compvae"  # which model: "compvae", or the baseline "count_cvae" (compvae_geo.models.MODELS)
    iterations: int = 30_000  # optimisation steps (one fresh batch each)
    batch_size: int = 128  # wholes per batch (the paper: 256)
    lr: float = 3e-3  # initial Adam learning rate (the paper: 1e-4 over 500,000 steps)
    lr_halving_every: int = 6_000  # the learning rate is halved every this many steps...
    lr_floor: float = 1e-6  # ...down to this floor
    beta1: float = 0.5  # Adam beta1 (the paper's value)
    beta2: float = 0.9  # Adam beta2 (the paper's value)
    # L_w + L_z weighted 0 -> 1 over these steps against posterior collapse (0: off, the paper)
    kl_warmup_steps: int = 3_000
    k_start: int = 2  # curriculum: largest K at step 0 (K uniform in [1, K_max] per whole)
    k_grow_every: int = 300  # curriculum: K_max grows by 1 every this many steps...
    k_max: int = 16  # ...up to this many parts (the paper: 16 in 1D, 8 in 2D)
    seed: int = 0  # seeds the weights, the data and the latent noise (a CPU run is reproducible)
    device: str = "auto"  # "auto" (CUDA when present), "cpu", "cuda", "cuda:1", ...
    bf16: bool = False  # bfloat16 autocast on CUDA
    # torch.compile the loss, with dynamic shapes (the number of parts changes every step); measured in
    # docs/performance.md: no gain on CPU, so off by default
    compile: bool = False
    log_every: int = 50  # steps between metric logs (metrics are sent in one batch each time)
    eval_every: int = 2_000  # steps between held-out evaluations
    eval_part_counts: tuple[int, ...] = (1, 2, 4, 8, 12, 16, 24, 32)  # K of the held-out sets
    eval_wholes: int = 256  # held-out wholes per K
    checkpoint_minutes: float = 5.0  # wall-clock minutes between checkpoints (and one at the end)
    # For problems with conditions (whole_attr): the share of training wholes whose conditions are hidden,
    # so that the model also learns to generate without them (z then carries them)
    condition_dropout: float = 0.5
    # After this many skipped (non-finite) steps in a row, the weights and optimizer state go back to
    # those of the last log interval that had a finite step, and training goes on (0: never)
    restore_after_skips: int = 100
    # A run that skips more than this share of its steps has diverged: it ends with an error (the CLI exits
    # with code 3) instead of "done", keeping its last finite weights
    max_skipped_share: float = 0.5

    def __post_init__(self) -> None:
        self.eval_part_counts = tuple(int(k) for k in self.eval_part_counts)
        self.check_finite()
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
        if min(self.val_fraction, self.test_fraction) < 0 or self.val_fraction + self.test_fraction >= 1:
            raise ValueError(f"need val_fraction, test_fraction >= 0 with a sum below 1, got {self.val_fraction} and "
                             f"{self.test_fraction}")
        if self.epochs < 0 or self.patience < 0:
            raise ValueError(f"epochs and patience must be >= 0, got {self.epochs} and {self.patience}")
        if self.epochs and not self.data:
            raise ValueError("epochs count passes over files (--data); a generator's run counts iterations")
        if not 0 <= self.condition_dropout <= 1:
            raise ValueError(f"condition_dropout must be in [0, 1], got {self.condition_dropout}")
        if not 0 <= self.max_skipped_share <= 1:
            raise ValueError(f"max_skipped_share must be in [0, 1], got {self.max_skipped_share}")
        if not 0 <= self.beta1 < 1 or not 0 <= self.beta2 < 1:
            raise ValueError(f"Adam's betas must be in [0, 1), got {self.beta1} and {self.beta2}")
        if self.restore_after_skips < 0:
            raise ValueError(f"restore_after_skips must be >= 0, got {self.restore_after_skips}")

    @property
    def subject(self) -> str:
        """What the run learns, in names and messages: its data directory's name, or its problem's name."""
        return Path(self.data).name if self.data else self.problem

    def learning_rate_at(self, step: int) -> float:
        """Halved every ``lr_halving_every`` steps, never below ``lr_floor``."""
        return max(self.lr * 0.5 ** (step // self.lr_halving_every), self.lr_floor)

    def kl_weight_at(self, step: int) -> float:
        """Weight of L_w + L_z in the training gradient.

        Rises linearly from 0 to 1 over ``kl_warmup_steps`` (the logged ELBO is always the true, unweighted one).
        """
        return min(1.0, step / self.kl_warmup_steps) if self.kl_warmup_steps else 1.0

    def max_parts_at(self, step: int) -> int:
        """The curriculum's K_max: ``k_start``, +1 every ``k_grow_every`` steps, up to ``k_max``."""
        return min(self.k_start + step // self.k_grow_every, self.k_max)
