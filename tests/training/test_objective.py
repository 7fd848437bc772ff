"""What the trainer optimises: a step applies Adam to the gradient of kl_weight (L_w + L_z) + L_x, and training helps.

Both fail for a flipped loss, a KL weight applied to the wrong terms, or a step that applies another gradient.
"""
import copy

import torch
from helpers import tiny_trainer

from compvae_geo import LatentNoise


def test_a_step_applies_adam_to_the_gradient_of_the_kl_weighted_objective(tmp_path):
    trainer = tiny_trainer(tmp_path)
    trainer.train_step()  # one step in: Adam has moments, and the KL weight is 1/4 (warm-up of 4 steps)
    weight = trainer.config.kl_weight_at(trainer.step)
    assert 0 < weight < 1
    batch = trainer.problem.sample_batch(16, 3, generator=torch.Generator().manual_seed(1))
    noise = LatentNoise.sample(trainer.model.config, batch.num_graphs, batch.num_nodes)
    # the oracle: the same model and optimizer state, the objective written out, a plain (unfused) Adam step
    reference = copy.deepcopy(trainer.model)
    optimizer = torch.optim.Adam(reference.parameters(), lr=trainer.config.learning_rate_at(trainer.step),
                                 betas=(trainer.config.beta1, trainer.config.beta2))
    state = copy.deepcopy(trainer.optimizer.state_dict())  # not shared: load_state_dict keeps the tensors it is given
    optimizer.load_state_dict({"state": state["state"], "param_groups": [
        {**state["param_groups"][0], "fused": None, "lr": trainer.config.learning_rate_at(trainer.step)}]})
    terms = reference.loss(batch, noise)
    (weight * (terms.w.mean() + terms.z.mean()) + terms.x.mean()).backward()
    optimizer.step()
    before = [parameter.detach().clone() for parameter in trainer.model.parameters()]
    means = trainer.train_step(batch, noise)
    expected = torch.stack([terms.w.mean(), terms.z.mean(), terms.x.mean()]).detach()
    torch.testing.assert_close(means, expected)  # the logged losses are the loss terms, unweighted
    moved = 0.0
    for parameter, oracle, start in zip(trainer.model.parameters(), reference.parameters(), before, strict=True):
        torch.testing.assert_close(parameter, oracle, rtol=1e-5, atol=1e-7)
        moved = max(moved, float((parameter - start).abs().max()))
    assert moved > 1e-4  # the step did move the weights (by about lr per coordinate)


def test_a_seeded_tiny_training_improves_the_heldout_elbo_by_a_margin(tmp_path):
    """100 steps of a tiny model on K <= 3: the held-out ELBO falls at every K, by 40 % in all (measured: 50 %)."""
    trainer = tiny_trainer(tmp_path, iterations=100, log_every=50, eval_every=100, kl_warmup_steps=20)
    before = trainer.heldout_elbo_bits()
    result = trainer.run()
    after = trainer.heldout_elbo_bits()
    assert result.step == 100 and result.skipped_steps == 0
    assert all(after[key] < before[key] for key in before)
    assert sum(after.values()) < 0.6 * sum(before.values())
