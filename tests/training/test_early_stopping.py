"""The trainer's safety nets, driven directly: early stopping keeps the best weights, and a diverged run goes back."""
import torch
from helpers import tiny_trainer

from compvae_geo.models.registry import load_model


def held_out(score: float) -> dict[str, float]:
    """Metrics as the trainer logs them: two held-out ELBOs (whose mean is ``score``) and another metric."""
    return {"heldout_elbo_bits/k1": score - 1.0, "heldout_elbo_bits/k3": score + 1.0, "loss/x": 1e9}


def test_patience_counts_evaluations_without_a_strictly_better_score_and_keeps_the_best_weights(tmp_path):
    trainer = tiny_trainer(tmp_path, patience=2)
    decisions = []
    for step, score in [(1, 10.0), (2, 9.0), (3, 9.0), (4, 9.5)]:  # better, better, equal (not better), worse
        trainer.step = step
        with torch.no_grad():
            next(trainer.model.parameters()).add_(1.0)  # other weights at every evaluation
        if step == 2:
            best_weights = {k: v.clone() for k, v in trainer.model.state_dict().items()}
        decisions.append(trainer._out_of_patience(held_out(score)))
        assert trainer.evaluations_since_best == max(0, step - 2)
    assert decisions == [False, False, False, True]
    assert trainer.best == (2, 9.0)
    kept = load_model(trainer.best_path).state_dict()
    assert all(torch.equal(kept[k], best_weights[k]) for k in best_weights)


def test_after_too_many_skipped_steps_the_weights_and_optimizer_go_back_to_the_last_good_state(tmp_path):
    trainer = tiny_trainer(tmp_path, restore_after_skips=3)
    trainer.train_step()
    trainer.remember_good_state()
    good = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    moments = [state["exp_avg"].clone() for state in trainer.optimizer.state.values()]
    trainer.train_step()  # moves the weights and updates Adam's moments in place
    trainer.skips_in_a_row = 2
    assert not trainer.restore_if_diverged()  # not yet
    for restore in (1, 2):
        trainer.skips_in_a_row = 3
        assert trainer.restore_if_diverged()
        assert trainer.restores == restore and trainer.skips_in_a_row == 0
        state = trainer.model.state_dict()
        assert all(torch.equal(state[k], good[k]) for k in good)
        for kept, now in zip(moments, (s["exp_avg"] for s in trainer.optimizer.state.values()), strict=True):
            assert torch.equal(kept, now)


def test_a_checkpoint_written_before_the_safety_nets_existed_resumes_with_none_used(tmp_path):
    from compvae_geo.training import Trainer

    trainer = tiny_trainer(tmp_path)
    trainer.train_step()
    path = trainer.save_checkpoint()
    payload = torch.load(path, weights_only=False)
    for field in ("restores", "best", "evaluations_since_best", "rank_rngs"):  # fields later checkpoints added
        payload["training"].pop(field, None)
    resumed = Trainer.resume(path, payload=payload)
    assert (resumed.restores, resumed.best, resumed.evaluations_since_best) == (0, None, 0)
    assert resumed.step == 1
    resumed.train_step()  # and it goes on
    assert resumed.step == 2
