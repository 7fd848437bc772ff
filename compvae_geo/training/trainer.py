"""The training loop of the paper's section 4.3, with checkpoints, resume and MLflow tracking."""
from __future__ import annotations

import contextlib
import copy
import logging
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel
from torch_geometric.data import Batch

from ..checkpoint import CheckpointWriteError, atomic_torch_save, describe_write_error, read_model_payload
from ..models import BITS_PER_NAT, CompVAEConfig, build_model
from ..tracking import Tracker
from .config import TrainConfig
from .distributed import DATA_SEED_STRIDE, Ranks, all_true, broadcast, gather, mean_over_ranks
from .spec import RunSpec


@dataclass
class TrainResult:
    """What a call to :meth:`Trainer.run` ended with."""

    step: int
    skipped_steps: int
    interrupted: bool
    checkpoint: Path
    tracking_failure: str | None
    diverged: bool = False  # more than config.max_skipped_share of this run's steps were skipped
    stopped_early: bool = False  # the held-out ELBO stopped improving (config.patience)


class Trainer:
    """Trains a CompVAE (or a baseline, ``config.model``) on data generated on the fly, with mixed K in every batch.

    Args:
        spec: the run (:class:`~compvae_geo.training.spec.RunSpec`): its configurations, problem, device and
            checkpoint path (written atomically, by rank 0).
        tracker: an MLflow run, or None for no tracking (ranks other than 0 have none).
        ranks: this process among the processes of a ``torchrun`` run (default: the only one). Each rank
            draws its share of every batch from its own seed; the model is wrapped in
            ``DistributedDataParallel``, which averages the gradients (the process group must be joined,
            :func:`~compvae_geo.training.distributed.init_process_group`).
    """

    def __init__(self, spec: RunSpec, tracker: Tracker | None = None, ranks: Ranks | None = None) -> None:
        self.spec = spec
        config = self.config = spec.train
        self.ranks = ranks or Ranks()
        self.local_batch_size = self.ranks.share(config.batch_size)
        self.device = spec.device
        if self.device.type == "cuda" and self.ranks.distributed:
            self.device = torch.device("cuda", self.ranks.local_rank)
            torch.cuda.set_device(self.device)
        self.problem = spec.problem
        torch.manual_seed(config.seed)  # the same initial weights on every rank
        self.model = build_model(config.model, spec.model).to(self.device)
        self.model.encoding = spec.encoding  # a model of recorded data reads labels and generates in their units
        self.parallel: torch.nn.Module = self.model  # what the loss is computed through
        if self.ranks.distributed:
            self.parallel = DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        if config.compile:
            self.parallel = torch.compile(self.parallel, dynamic=True)
        # fused Adam: one kernel for all parameters (the CPU step: 0.92x the time, docs/performance.md)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr, betas=(config.beta1, config.beta2),
                                          fused=True)
        rank_seed = config.seed + self.ranks.rank * DATA_SEED_STRIDE
        self.data_generator = torch.Generator(self.device).manual_seed(rank_seed)
        if self.ranks.rank:  # rank 0 draws its latent noise as one process does; the others their own
            torch.manual_seed(rank_seed)
        self.checkpoint_path = spec.checkpoint
        self.tracker = tracker
        self.step = 0
        self.skipped_steps = 0
        self.skips_in_a_row = 0
        self.restores = 0  # times the weights went back to the last good state (restore_after_skips)
        self._last_good: tuple[int, dict, dict] | None = None  # step, model and optimizer state
        self.history: list[dict[str, float]] = []  # logged training losses, for the loss-curve figure
        self.saved_step: int | None = None  # the step of the last checkpoint written by this process
        self.best: tuple[int, float] | None = None  # with patience: the step and held-out score of best.pt
        self.evaluations_since_best = 0

    def close(self) -> None:
        """Drops the ``DistributedDataParallel`` (and compiled) wrapper: call it before leaving the process group."""
        self.parallel = self.model

    # ----- checkpoints ------------------------------------------------------------------------

    def save_checkpoint(self, path: str | os.PathLike | None = None) -> Path:
        """Model, optimizer, step, RNG states and MLflow run id: everything ``resume`` needs.

        Under ``torchrun`` every rank calls it (the RNG states of all ranks are gathered) and rank 0 writes.
        """
        path = Path(path or self.checkpoint_path)
        rank_rngs = gather((torch.get_rng_state(), self.data_generator.get_state()))
        if not self.ranks.is_main:
            return path
        payload = self.model.checkpoint_payload()
        payload["training"] = {
            "config": self.config.to_dict(),
            "preset": self.spec.preset,
            "optimizer": self.optimizer.state_dict(),
            "step": self.step,
            "skipped_steps": self.skipped_steps,
            "restores": self.restores,
            "run_id": self.tracker.run_id if self.tracker else None,
            "torch_rng": rank_rngs[0][0],
            "data_rng": rank_rngs[0][1],
            "rank_rngs": [list(states) for states in rank_rngs[1:]],  # torchrun: ranks 1, 2, ...
            "history": self.history,
            "best": self.best,
            "evaluations_since_best": self.evaluations_since_best,
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
               ranks: Ranks | None = None, device: torch.device | None = None, **overrides: Any) -> Trainer:
        """Continues a run from its checkpoint at ``path``.

        Same step, LR schedule, data stream and MLflow run (``tracker``, reopened on the checkpoint's run id by the
        caller).

        Args:
            path: the checkpoint, which later checkpoints replace.
            payload: its contents, if already read with :meth:`read_checkpoint` (else read here).
            tracker: the tracking run to go on logging into, or None.
            ranks: this process under ``torchrun``; with as many processes as the checkpoint was written
                by, each rank goes on with its own data stream (else ranks > 0 start new streams).
            device: the training's ``device`` already resolved (default: resolved here).
            **overrides: training fields to change (e.g. more ``iterations``, another ``device``).
        """
        payload = payload if payload is not None else cls.read_checkpoint(path)
        state = payload["training"]
        config = TrainConfig.from_dict({**state["config"], **overrides})
        spec = RunSpec.build(config, path, model=CompVAEConfig.from_dict(payload["config"]), preset=state.get("preset"),
                             device=device)
        trainer = cls(spec, tracker, ranks)
        trainer.model.load_state_dict(payload["state_dict"])
        trainer.optimizer.load_state_dict(state["optimizer"])
        trainer.step, trainer.skipped_steps = state["step"], state["skipped_steps"]
        trainer.saved_step = trainer.step  # the checkpoint it resumes from is its last one until it writes another
        trainer.restores = state.get("restores", 0)  # absent from checkpoints written before it existed
        trainer.history = list(state["history"])
        best = state.get("best")  # absent before early stopping existed
        trainer.best = None if best is None else (int(best[0]), float(best[1]))
        trainer.evaluations_since_best = state.get("evaluations_since_best", 0)
        rank_rngs = [(state["torch_rng"], state["data_rng"]), *state.get("rank_rngs", [])]
        if trainer.ranks.rank < len(rank_rngs):
            torch_rng, data_rng = rank_rngs[trainer.ranks.rank]
            torch.set_rng_state(torch_rng)
            if trainer.data_generator.device.type == "cpu":
                trainer.data_generator.set_state(data_rng)
        return trainer

    # ----- one step ---------------------------------------------------------------------------

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.config.bf16 and self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def train_step(self, batch: Batch | None = None, noise: Any = None) -> torch.Tensor | None:
        """One optimisation step on a fresh batch (this rank's share of it), or on ``batch`` (with ``noise``).

        Returns the mean (L_w, L_z, L_x) in nats, or None when the loss or a gradient is not finite on
        any rank (the step is skipped and counted, on every rank).
        """
        config = self.config
        if batch is None:
            batch = self.problem.sample_batch(self.local_batch_size, config.max_parts_at(self.step),
                                              generator=self.data_generator, device=self.device)
            self.hide_conditions(batch)
        with self._autocast():
            terms = self.parallel(batch, noise)
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
        if all_true(bool(torch.isfinite(loss)), self.device):  # every rank takes the step, or none
            loss.backward()  # several ranks: DistributedDataParallel averages the gradients, so all agree below
            grads = [parameter.grad for parameter in self.model.parameters() if parameter.grad is not None]
            if torch.isfinite(torch.nn.utils.get_total_norm(grads)):  # the norm alone: nothing is clipped
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
        """Mean held-out ELBO in bits per whole on the run's held-out sets (fixed data and noise).

        Per K of ``eval_part_counts`` for a generator, on the validation split for recorded data; the training noise
        stream is untouched.
        """
        return self.spec.heldout.elbo_bits(self.model, self.device)

    # ----- the loop ---------------------------------------------------------------------------

    def run(self, on_log: Callable[[int, dict[str, float]], None] | None = None) -> TrainResult:
        """Trains up to ``config.iterations`` steps.

        Logs every ``log_every`` steps (to MLflow and ``on_log``), evaluates every ``eval_every``, checkpoints every
        ``checkpoint_minutes`` and at the end. Ctrl-C saves a checkpoint and returns with ``interrupted=True``.
        Under ``torchrun`` every rank runs it: the losses are averaged over the ranks, and rank 0 alone
        evaluates, logs and writes.
        """
        config = self.config
        if self.tracker and self.step == 0:
            self.tracker.log_params({**self.config.to_dict(), **{f"model.{k}": v for k, v in
                                                                  self.model.config.to_dict().items()}})
        interval_sum = torch.zeros(3, device=self.device)  # L_w, L_z, L_x
        interval_steps, interval_start = 0, time.perf_counter()
        last_checkpoint = time.monotonic()
        interrupted = stopped_early = False
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
                log_due = self.step % config.log_every == 0 or self.step == config.iterations
                if log_due:
                    interval_sum = mean_over_ranks(interval_sum)  # every rank skips the same steps
                    metrics = self._interval_metrics(interval_sum, interval_steps, interval_start)
                    if interval_steps and self.skips_in_a_row == 0:
                        self.remember_good_state()
                    interval_sum.zero_()
                    interval_steps, interval_start = 0, time.perf_counter()
                    held_out_due = self.step % config.eval_every == 0 or self.step == config.iterations
                    if held_out_due and self.ranks.is_main:
                        metrics.update(self.heldout_elbo_bits())
                    self._log(metrics, on_log)
                    if held_out_due and config.patience and self._out_of_patience(metrics):
                        stopped_early = True
                        break
                if self._checkpoint_due(last_checkpoint, log_due):
                    self.try_checkpoint()
                    last_checkpoint = time.monotonic()
        except KeyboardInterrupt:
            interrupted = True
        checkpoint = self._final_checkpoint()
        steps_run = self.step - first_step
        diverged = steps_run > 0 and self.skipped_steps - skipped_before > config.max_skipped_share * steps_run
        return TrainResult(self.step, self.skipped_steps, interrupted, checkpoint,
                           self.tracker.failure if self.tracker else None, diverged, stopped_early)

    @property
    def best_path(self) -> Path:
        """Where the best weights go with ``patience``: ``best.pt`` beside the checkpoint."""
        return self.checkpoint_path.with_name("best.pt")

    def _out_of_patience(self, metrics: dict[str, float]) -> bool:
        """Keeps the best weights so far (by the mean held-out ELBO) and says when ``patience`` has run out.

        Rank 0 decides; under ``torchrun`` every rank gets its answer.
        """
        stop = False
        if self.ranks.is_main:
            score = statistics.fmean(value for key, value in metrics.items() if key.startswith("heldout_elbo_bits"))
            if self.best is None or score < self.best[1]:
                self.best, self.evaluations_since_best = (self.step, score), 0
                atomic_torch_save(self.model.checkpoint_payload(), self.best_path)
            else:
                self.evaluations_since_best += 1
            stop = self.evaluations_since_best >= self.config.patience
        return broadcast(stop)

    def _checkpoint_due(self, last_checkpoint: float, log_due: bool) -> bool:
        """Whether ``checkpoint_minutes`` have passed; under ``torchrun``, rank 0's clock decides at logged steps."""
        due = time.monotonic() - last_checkpoint > 60 * self.config.checkpoint_minutes
        if not self.ranks.distributed:
            return due
        return log_due and broadcast(due)

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
