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
