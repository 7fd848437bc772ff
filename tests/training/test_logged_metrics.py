"""What a training run logs every ``log_every`` steps describes the steps of its interval."""
import math
import time

import pytest
from helpers import tiny_trainer

LOG_EVERY = 2


def test_each_log_gives_the_schedule_of_the_step_just_taken_and_the_mean_losses_of_its_interval(tmp_path):
    # every schedule moves at every step, so a log one step early or late shows
    trainer = tiny_trainer(tmp_path, iterations=6, log_every=LOG_EVERY, eval_every=1000, lr=1e-3, lr_halving_every=1,
                           lr_floor=1e-9, k_start=1, k_max=6, k_grow_every=1, kl_warmup_steps=8)
    steps_taken = []  # the (L_w, L_z, L_x) means in nats each step returned
    train_step = trainer.train_step
    trainer.train_step = lambda *args, **kwargs: steps_taken.append(train_step(*args, **kwargs)) or steps_taken[-1]
    logs = []
    start = time.perf_counter()
    trainer.run(on_log=lambda step, metrics: logs.append((step, dict(metrics))))
    wall = time.perf_counter() - start
    config = trainer.config
    assert [step for step, _ in logs] == [2, 4, 6] and len(steps_taken) == 6
    history = {row["step"]: row for row in trainer.history}
    for step, metrics in logs:
        taken = step - 1  # the step index whose update this log follows
        assert metrics["lr"] == config.learning_rate_at(taken)
        assert metrics["k_max"] == config.max_parts_at(taken)
        assert metrics["kl_weight"] == config.kl_weight_at(taken)
        assert metrics["skipped_steps"] == metrics["restores"] == 0.0
        # LOG_EVERY steps of batch_size wholes in at most the run's wall time
        assert config.batch_size * LOG_EVERY / wall <= metrics["datapoints_per_s"] < float("inf")
        interval = sum(steps_taken[step - LOG_EVERY:step]) / LOG_EVERY / math.log(2)  # nats to bits
        w, z, x = (metrics[f"loss/{term}_bits"] for term in "wzx")
        assert (w, z, x) == pytest.approx(interval.tolist(), rel=1e-5)
        assert metrics["loss/elbo_bits"] == pytest.approx(w + z + x)
        assert history[float(step)] == pytest.approx({"step": float(step), "w": w, "z": z, "x": x, "elbo": w + z + x})


class FakeClock:
    """``time`` for the trainer: ``monotonic`` moves only when the test says (``perf_counter`` is the real one)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.perf_counter = time.perf_counter

    def monotonic(self) -> float:
        return self.now


@pytest.mark.parametrize(("seconds_a_step", "checkpoints"), [
    (60.0, [3, 6]),  # 120 s exactly after two steps is not yet past checkpoint_minutes = 2
    (60.75, [2, 4, 6]),  # 121.5 s is
])
def test_a_checkpoint_is_written_once_checkpoint_minutes_have_passed_since_the_last(tmp_path, monkeypatch,
                                                                                     seconds_a_step, checkpoints):
    from compvae_geo.training import trainer as trainer_module

    clock = FakeClock()
    monkeypatch.setattr(trainer_module, "time", clock)
    trainer = tiny_trainer(tmp_path, iterations=6, log_every=1, eval_every=1000, checkpoint_minutes=2.0)
    train_step, try_checkpoint = trainer.train_step, trainer.try_checkpoint
    written = []

    def step(*args, **kwargs):
        clock.now += seconds_a_step
        return train_step(*args, **kwargs)

    def checkpoint(*args, **kwargs):
        written.append(trainer.step)
        return try_checkpoint(*args, **kwargs)

    trainer.train_step, trainer.try_checkpoint = step, checkpoint
    trainer.run()
    assert written == checkpoints


def test_a_checkpoint_the_disk_refuses_is_a_warning_and_training_goes_on(tmp_path, monkeypatch, caplog):
    import errno

    from compvae_geo.training import trainer as trainer_module

    clock = FakeClock()
    monkeypatch.setattr(trainer_module, "time", clock)
    trainer = tiny_trainer(tmp_path, iterations=4, log_every=1, eval_every=1000, checkpoint_minutes=1.0)
    save, train_step, try_checkpoint = trainer.save_checkpoint, trainer.train_step, trainer.try_checkpoint
    answers = []

    def full_disk_mid_run():
        if 0 < trainer.step < 4:  # the first checkpoint and the last are written
            raise OSError(errno.ENOSPC, "No space left on device")
        return save()

    def step(*args, **kwargs):
        clock.now += 61.0  # every step is due
        return train_step(*args, **kwargs)

    trainer.save_checkpoint, trainer.train_step = full_disk_mid_run, step
    trainer.try_checkpoint = lambda: answers.append(try_checkpoint()) or answers[-1]
    with caplog.at_level("WARNING"):
        result = trainer.run()
    assert result.step == 4 and answers == [False, False, False, True]
    warnings = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    assert len(warnings) == 3
    for step, message in zip((1, 2, 3), warnings, strict=True):
        assert message == (f"step {step}: no space left on the disk of {tmp_path}; the checkpoint of step 0 stays in "
                           f"{trainer.checkpoint_path}, and training goes on (the next checkpoint tries again)")
