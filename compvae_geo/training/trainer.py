"""The training loop of the paper's section 4.3, with checkpoints, resume and MLflow tracking."""
from __future__ import annotations

import contextlib
import copy
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch_geometric.data import Batch

from ..checkpoint import CheckpointWriteError, atomic_torch_save, describe_write_error, read_model_payload
from ..evaluation.per_k import heldout_elbo_bits
from ..models import BITS_PER_NAT, CompVAEConfig, build_model
from ..problems import make_problem
from .config import TrainConfig
from .tracking import Tracker

HELDOUT_SEED_OFFSET = 1_000_003  # held-out data never share a seed with training data


def resolve_device(name: str) -> torch.device:
    """``"auto"``: CUDA when present, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"unknown device {name!r}: use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} asked for, but CUDA is not available")
    return device


@dataclass
class TrainResult:
    """What a call to :meth:`Trainer.run` ended with."""

    step: int
    skipped_steps: int
    interrupted: bool
    checkpoint: Path
    tracking_failure: str | None
    diverged: bool = False  # more than config.max_skipped_share of this run's steps were skipped


class Trainer:
    """Trains a CompVAE (or a baseline, ``config.model``) on data generated on the fly, with mixed K in every batch.

    Args:
        config: the training run.
        model_config: the model (its data-defined fields must match ``config.problem``).
        checkpoint_path: where checkpoints go (written atomically).
        tracker: an MLflow run, or None for no tracking.
    """

    def __init__(self, config: TrainConfig, model_config: CompVAEConfig, checkpoint_path: str | os.PathLike,
                 tracker: Tracker | None = None) -> None:
        self.config = config
        self.device = resolve_device(config.device)
        self.problem = make_problem(config.problem)
        torch.manual_seed(config.seed)
        self.model = build_model(config.model, model_config).to(self.device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr, betas=(config.beta1, config.beta2))
        self.data_generator = torch.Generator(self.device).manual_seed(config.seed)
        self.checkpoint_path = Path(checkpoint_path)
        self.tracker = tracker
        self.step = 0
        self.skipped_steps = 0
        self.skips_in_a_row = 0
        self.restores = 0  # times the weights went back to the last good state (restore_after_skips)
        self._last_good: tuple[int, dict, dict] | None = None  # step, model and optimizer state
        self.history: list[dict[str, float]] = []  # logged training losses, for the loss-curve figure
        self.saved_step: int | None = None  # the step of the last checkpoint written by this process

    # ----- checkpoints ------------------------------------------------------------------------

    def save_checkpoint(self, path: str | os.PathLike | None = None) -> Path:
        """Model, optimizer, step, RNG states and MLflow run id: everything ``resume`` needs."""
        path = Path(path or self.checkpoint_path)
        payload = self.model.checkpoint_payload()
        payload["training"] = {
            "config": self.config.to_dict(),
            "optimizer": self.optimizer.state_dict(),
            "step": self.step,
            "skipped_steps": self.skipped_steps,
            "restores": self.restores,
            "run_id": self.tracker.run_id if self.tracker else None,
            "torch_rng": torch.get_rng_state(),
            "data_rng": self.data_generator.get_state(),
            "history": self.history,
        }
        atomic_torch_save(payload, path)
        self.saved_step = self.step
        return path

    def try_checkpoint(self) -> bool:
        """:meth:`save_checkpoint`, or a warning in plain words if the disk refuses it (the previous one stays)."""
        try:
            self.save_checkpoint()
            return True
        except OSError as error:
            logging.warning("step %d: %s; the checkpoint of step %s stays in %s, and training goes on (the next "
                            "checkpoint tries again)", self.step, describe_write_error(error, self.checkpoint_path),
                            self.saved_step, self.checkpoint_path)
            return False

    @staticmethod
    def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
        """The payload of a training checkpoint (``weights_only=True``: no code runs)."""
        payload = read_model_payload(path)
        if "training" not in payload:
            raise ValueError(f"{path} is not a training checkpoint (it has no training state)")
        return payload

    @classmethod
    def resume(cls, path: str | os.PathLike, payload: dict[str, Any] | None = None, tracker: Tracker | None = None,
               **overrides: Any) -> Trainer:
        """Continues a run from its checkpoint at ``path``.

        Same step, LR schedule, data stream and MLflow run (``tracker``, reopened on the checkpoint's run id by the
        caller).

        Args:
            path: the checkpoint, which later checkpoints replace.
            payload: its contents, if already read with :meth:`read_checkpoint` (else read here).
            tracker: the tracking run to go on logging into, or None.
            **overrides: training fields to change (e.g. more ``iterations``, another ``device``).
        """
        payload = payload if payload is not None else cls.read_checkpoint(path)
        state = payload["training"]
        config = TrainConfig.from_dict({**state["config"], **overrides})
        trainer = cls(config, CompVAEConfig.from_dict(payload["config"]), path, tracker)
        trainer.model.load_state_dict(payload["state_dict"])
        trainer.optimizer.load_state_dict(state["optimizer"])
        trainer.step, trainer.skipped_steps = state["step"], state["skipped_steps"]
        trainer.restores = state.get("restores", 0)  # absent from checkpoints written before it existed
        trainer.history = list(state["history"])
        torch.set_rng_state(state["torch_rng"])
        if trainer.data_generator.device.type == "cpu":
            trainer.data_generator.set_state(state["data_rng"])
        return trainer

    # ----- one step ---------------------------------------------------------------------------

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.config.bf16 and self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def train_step(self) -> torch.Tensor | None:
        """One optimisation step on a fresh batch.

        Returns the mean (L_w, L_z, L_x) in nats, or None when the loss or a gradient is not finite (the step is skipped
        and counted).
        """
        config = self.config
        batch = self.problem.sample_batch(config.batch_size, config.max_parts_at(self.step),
                                          generator=self.data_generator, device=self.device)
        self.hide_conditions(batch)
        with self._autocast():
            terms = self.model.loss(batch)
        means = torch.stack([terms.w.mean(), terms.z.mean(), terms.x.mean()]).float()
        loss = config.kl_weight_at(self.step) * (means[0] + means[1]) + means[2]
        return means.detach() if self._apply(loss) else None

    def hide_conditions(self, batch: Batch) -> None:
        """Hides the conditions of a ``condition_dropout`` share of the batch's wholes (rows of NaN).

        So the model learns to generate with and without them; a batch with none is unchanged.
        """
        whole_attr = getattr(batch, "whole_attr", None)
        if whole_attr is None or not self.config.condition_dropout:
            return
        hidden = torch.rand(whole_attr.size(0), generator=self.data_generator, device=self.device)
        batch.whole_attr = whole_attr.masked_fill((hidden < self.config.condition_dropout)[:, None], float("nan"))

    def _apply(self, loss: torch.Tensor) -> bool:
        """Backpropagates ``loss`` and takes the optimizer step.

        Counts a skipped step and returns False when the loss or a gradient is not finite (nothing applied). The
        learning rate is that of the current step (:meth:`TrainConfig.learning_rate_at`).
        """
        for group in self.optimizer.param_groups:
            group["lr"] = self.config.learning_rate_at(self.step)
        self.step += 1
        self.optimizer.zero_grad(set_to_none=True)
        if torch.isfinite(loss):
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), float("inf"))
            if torch.isfinite(grad_norm):
                self.optimizer.step()
                self.skips_in_a_row = 0
                return True
            self.optimizer.zero_grad(set_to_none=True)
        self.skipped_steps += 1
        self.skips_in_a_row += 1
        return False

    # ----- recovery from diverged weights ------------------------------------------------------

    def remember_good_state(self) -> None:
        """Keeps a copy of the weights and optimizer state (in memory) to go back to if the weights diverge later.

        Every batch then gives a non-finite loss and no step can undo it.
        """
        self._last_good = (self.step, copy.deepcopy(self.model.state_dict()),
                           copy.deepcopy(self.optimizer.state_dict()))

    def restore_if_diverged(self) -> bool:
        """Goes back to the last good state after too many skipped steps in a row.

        After ``restore_after_skips`` skipped steps in a row, loads the state kept by
        :meth:`remember_good_state` (the step count and the data stream go on) and says so.
        """
        limit = self.config.restore_after_skips
        if not limit or self.skips_in_a_row < limit or self._last_good is None:
            return False
        good_step, model_state, optimizer_state = self._last_good
        self.model.load_state_dict(model_state)
        self.optimizer.load_state_dict(optimizer_state)
        self.restores += 1
        self.skips_in_a_row = 0
        logging.warning("step %d: %d steps in a row were not finite; went back to the weights of step %d "
                        "(restore %d)", self.step, limit, good_step, self.restores)
        return True

    # ----- evaluation -------------------------------------------------------------------------

    def heldout_elbo_bits(self) -> dict[str, float]:
        """Mean held-out ELBO in bits per whole at each K of ``eval_part_counts``.

        Mean held-out ELBO in bits per whole at each K of ``eval_part_counts`` (fixed data and
        noise; the training noise stream is untouched).
        """
        per_k = heldout_elbo_bits(self.model, self.problem, self.config.eval_part_counts, self.config.eval_wholes,
                                  self.config.seed + HELDOUT_SEED_OFFSET, self.device)
        return {f"heldout_elbo_bits/K{k:03d}": terms.elbo for k, terms in per_k.items()}

    # ----- the loop ---------------------------------------------------------------------------

    def run(self, on_log: Callable[[int, dict[str, float]], None] | None = None) -> TrainResult:
        """Trains up to ``config.iterations`` steps.

        Logs every ``log_every`` steps (to MLflow and ``on_log``), evaluates every ``eval_every``, checkpoints every
        ``checkpoint_minutes`` and at the end. Ctrl-C saves a checkpoint and returns with ``interrupted=True``.
        """
        config = self.config
        if self.tracker and self.step == 0:
            self.tracker.log_params({**self.config.to_dict(), **{f"model.{k}": v for k, v in
                                                                  self.model.config.to_dict().items()}})
        interval_sum = torch.zeros(3, device=self.device)  # L_w, L_z, L_x
        interval_steps, interval_start = 0, time.perf_counter()
        last_checkpoint = time.monotonic()
        interrupted = False
        first_step, skipped_before = self.step, self.skipped_steps
        if self._last_good is None:  # the starting weights are the first restore point
            self.remember_good_state()
        self._final_checkpoint()  # a directory that cannot take a checkpoint fails now, not after the training
        try:
            while self.step < config.iterations:
                means = self.train_step()
                if means is not None:
                    interval_sum += means
                    interval_steps += 1
                self.restore_if_diverged()
                if self.step % config.log_every == 0 or self.step == config.iterations:
                    metrics = self._interval_metrics(interval_sum, interval_steps, interval_start)
                    if interval_steps and self.skips_in_a_row == 0:
                        self.remember_good_state()
                    interval_sum.zero_()
                    interval_steps, interval_start = 0, time.perf_counter()
                    held_out_due = self.step % config.eval_every == 0 or self.step == config.iterations
                    if held_out_due:
                        metrics.update(self.heldout_elbo_bits())
                    self._log(metrics, on_log)
                if time.monotonic() - last_checkpoint > 60 * config.checkpoint_minutes:
                    self.try_checkpoint()
                    last_checkpoint = time.monotonic()
        except KeyboardInterrupt:
            interrupted = True
        checkpoint = self._final_checkpoint()
        steps_run = self.step - first_step
        diverged = steps_run > 0 and self.skipped_steps - skipped_before > config.max_skipped_share * steps_run
        return TrainResult(self.step, self.skipped_steps, interrupted, checkpoint,
                           self.tracker.failure if self.tracker else None, diverged)

    def _final_checkpoint(self) -> Path:
        """:meth:`save_checkpoint`, or :class:`CheckpointWriteError` naming the last checkpoint that was written."""
        try:
            return self.save_checkpoint()
        except OSError as error:
            kept = (f"the last checkpoint written is {self.checkpoint_path} (step {self.saved_step})"
                    if self.saved_step is not None else "no checkpoint was written")
            raise CheckpointWriteError(f"{describe_write_error(error, self.checkpoint_path)}; {kept}") from error

    def _interval_metrics(self, interval_sum: torch.Tensor, steps: int, start: float) -> dict[str, float]:
        seconds = max(time.perf_counter() - start, 1e-9)
        metrics = {
            "lr": self.config.learning_rate_at(self.step - 1),
            "k_max": float(self.config.max_parts_at(self.step - 1)),
            "kl_weight": self.config.kl_weight_at(self.step - 1),
            "skipped_steps": float(self.skipped_steps),
            "restores": float(self.restores),
            "datapoints_per_s": self.config.batch_size * self.config.log_every / seconds,
        }
        if steps:
            w, z, x = (interval_sum / steps * BITS_PER_NAT).tolist()
            metrics.update({"loss/w_bits": w, "loss/z_bits": z, "loss/x_bits": x, "loss/elbo_bits": w + z + x})
            self.history.append({"step": float(self.step), "w": w, "z": z, "x": x, "elbo": w + z + x})
        return metrics

    def _log(self, metrics: dict[str, float], on_log: Callable[[int, dict[str, float]], None] | None) -> None:
        if self.tracker:
            self.tracker.log_metrics(metrics, self.step)
        if on_log:
            on_log(self.step, metrics)
