"""The fitted generation prior p*(w_i | l_i, {l_j}): its math against a dense oracle, its symmetries,
and that it learns only from its own term and never changes the ELBO."""
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import MultivariateNormal

from compvae_geo import CompVAE, CompVAEConfig, LatentNoise
from compvae_geo.datasets import SineParts
from compvae_geo.layers import PartMultivariateNormal
from compvae_geo.problems import make_problem, model_config_for
from compvae_geo.train_config import TrainConfig
from compvae_geo.training import Trainer
from helpers import from_padded, sine_batch, to_padded

PROBLEM = SineParts(length=20)
CONFIG = CompVAEConfig(obs_shape=PROBLEM.obs_shape, w_dim=4, z_dim=3, hidden_dim=32, x_feature_dim=8,
                       part_embed_dim=5, num_update_layers=2, fitted_prior=True)
COUNTS = [3, 1, 0, 5, 2]


def make_model(seed=0, **overrides):
    torch.manual_seed(seed)
    return CompVAE(replace(CONFIG, **overrides))


def make_batch(counts=COUNTS, seed=0):
    return sine_batch(PROBLEM, CONFIG.num_categories, counts, seed)


def dense_fitted_prior(model: CompVAE, part: torch.Tensor, counts: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Means and Cholesky factors of p*, on zero-padded multisets with the other-parts sum written out."""
    prior, d = model.fitted_prior, model.config.w_dim
    h, mask = to_padded(prior.embedding(part), counts)
    for layer in prior.context:
        messages = layer.g(h) * mask[..., None]
        update = layer.f(torch.cat([h, messages.sum(1, keepdim=True) - messages], -1))
        h = h + update if update.shape == h.shape else update
    out = from_padded(prior.head(h), mask)
    loc, raw_diagonal, below = out[:, :d], out[:, d:2 * d], out[:, 2 * d:]
    scale_tril = torch.zeros(out.size(0), d, d)
    rows, cols = torch.tril_indices(d, d, offset=-1)
    scale_tril[:, rows, cols] = below
    scale_tril = scale_tril + torch.diag_embed(model.config.prior_scale_floor + F.softplus(raw_diagonal))
    return loc, scale_tril


def test_prior_fit_term_matches_dense_oracle():
    model, data = make_model(), make_batch()
    torch.manual_seed(1)
    noise = LatentNoise.sample(CONFIG, len(COUNTS), sum(COUNTS))
    terms = model.loss(data, noise)
    w = model.encode(data, noise).w_dist.reparameterize(noise.w)
    loc, scale_tril = dense_fitted_prior(model, data.part, COUNTS)
    per_part = MultivariateNormal(loc, scale_tril=scale_tril).log_prob(w)
    expected = -torch.stack([chunk.sum() for chunk in per_part.split(COUNTS)])
    torch.testing.assert_close(terms.prior_fit, expected, rtol=1e-4, atol=1e-4)
    assert terms.prior_fit[COUNTS.index(0)] == 0


def test_the_elbo_is_that_of_the_model_without_the_fitted_prior():
    model, data = make_model(), make_batch(seed=2)
    plain = CompVAE(replace(CONFIG, fitted_prior=False))
    plain.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("fitted_prior.")})
    noise = LatentNoise.sample(CONFIG, len(COUNTS), sum(COUNTS))
    with_fit, without = model.loss(data, noise), plain.loss(data, noise)
    for key in ("w", "z", "x"):
        torch.testing.assert_close(getattr(with_fit, key), getattr(without, key))
    assert without.prior_fit is None


def test_prior_fit_trains_the_fitted_prior_only_and_the_elbo_never_reaches_it():
    model, data = make_model(), make_batch(seed=3)
    terms = model.loss(data)
    terms.prior_fit.sum().backward(retain_graph=True)
    fitted = {n for n, _ in model.named_parameters() if n.startswith("fitted_prior.")}
    grads = {n: p.grad for n, p in model.named_parameters()}
    assert all(grads[n] is None for n in grads if n not in fitted)
    assert all(grads[n] is not None for n in fitted)
    model.zero_grad(set_to_none=True)
    terms.elbo.sum().backward()
    assert all(p.grad is None for n, p in model.named_parameters() if n in fitted)


def test_fitted_prior_is_permutation_equivariant_and_batched_equals_one_by_one():
    model = make_model()
    part = torch.tensor([3, 0, 7, 7, 2, 9])
    perm = torch.tensor([4, 2, 0, 5, 1, 3])
    zeros = torch.zeros(6, dtype=torch.long)
    base, shuffled = model.fitted_prior(part, None, zeros, 1), model.fitted_prior(part[perm], None, zeros, 1)
    torch.testing.assert_close(shuffled.loc, base.loc[perm], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(shuffled.scale_tril, base.scale_tril[perm], rtol=1e-5, atol=1e-5)
    data = make_batch(seed=4)
    batched = model.fitted_prior(data.part, None, data.batch, len(COUNTS))
    for b, single in enumerate(data.to_data_list()):
        alone = model.fitted_prior(single.part, None, torch.zeros_like(single.part), 1)
        torch.testing.assert_close(alone.loc, batched.loc[data.batch == b], rtol=1e-5, atol=1e-5)
    assert isinstance(batched, PartMultivariateNormal) and batched.num_wholes == len(COUNTS)


def test_the_company_of_a_part_changes_its_fitted_prior():
    model = make_model()
    alone = model.fitted_prior(torch.tensor([3]), None, torch.zeros(1, dtype=torch.long), 1)
    in_company = model.fitted_prior(torch.tensor([3, 5]), None, torch.zeros(2, dtype=torch.long), 1)
    assert not torch.allclose(alone.loc[0], in_company.loc[0])


def test_generation_draws_from_the_fitted_prior_and_survives_save_and_load(tmp_path):
    model = make_model()
    parts = torch.tensor([1, 4, 4])
    torch.manual_seed(5)
    drawn = model.prior_latents(parts, 6)
    torch.manual_seed(5)
    expected = model.fitted_prior(parts, None, torch.zeros(3, dtype=torch.long), 1).sample((6,))
    torch.testing.assert_close(drawn, expected)
    model.save(tmp_path / "m.pt")
    loaded = CompVAE.load(tmp_path / "m.pt")
    torch.manual_seed(6)
    before = model.generate(parts, 3)
    torch.manual_seed(6)
    torch.testing.assert_close(loaded.generate(parts, 3), before)


def test_training_fits_the_prior_and_logs_its_term(tmp_path):
    config = TrainConfig(iterations=4, batch_size=8, log_every=2, eval_every=4, eval_wholes=4,
                         eval_part_counts=(1, 3), k_max=3)
    model_config = model_config_for(make_problem("sine"), w_dim=4, z_dim=3, hidden_dim=16, x_feature_dim=8,
                                    part_embed_dim=4, num_update_layers=1, fitted_prior=True)
    trainer = Trainer(config, model_config, tmp_path / "c.pt")
    before = {n: p.clone() for n, p in trainer.model.fitted_prior.named_parameters()}
    logged = []
    trainer.run(on_log=lambda step, metrics: logged.append(metrics))
    assert all("loss/prior_fit_bits" in metrics for metrics in logged)
    assert any(not torch.equal(before[n], p) for n, p in trainer.model.fitted_prior.named_parameters())


def _tiny_trainer(tmp_path, name, **train):
    config = TrainConfig(batch_size=8, log_every=2, eval_every=4, eval_wholes=4, eval_part_counts=(1, 3), k_max=3,
                         **train)
    model_config = model_config_for(make_problem("sine"), w_dim=4, z_dim=3, hidden_dim=16, x_feature_dim=8,
                                    part_embed_dim=4, num_update_layers=1, fitted_prior=True, render_channels=2)
    return Trainer(config, model_config, tmp_path / name)


def test_prior_fit_after_training_moves_only_the_fitted_prior_and_logs_only_its_term(tmp_path):
    after = _tiny_trainer(tmp_path, "after.pt", iterations=4, prior_fit_steps=6)
    fitted_at_start = {n: p.clone() for n, p in after.model.fitted_prior.named_parameters()}
    logged = []
    result = after.run(on_log=lambda step, metrics: logged.append((step, metrics)))
    assert result.step == 10 and result.skipped_steps == 0
    alongside = _tiny_trainer(tmp_path, "alongside.pt", iterations=4)
    alongside.run()
    rest = {n: p for n, p in after.model.named_parameters() if not n.startswith("fitted_prior.")}
    for name, value in alongside.model.named_parameters():  # the fit after training froze the model
        if name in rest:
            torch.testing.assert_close(rest[name], value, rtol=0, atol=0)
    assert any(not torch.equal(fitted_at_start[n], p) for n, p in after.model.fitted_prior.named_parameters())
    training = [metrics for step, metrics in logged if step <= 4]
    fitting = [metrics for step, metrics in logged if step > 4]
    assert [step for step, _ in logged] == [2, 4, 6, 8, 10]
    assert all("loss/elbo_bits" in m and "loss/prior_fit_bits" not in m for m in training)
    assert all("loss/prior_fit_bits" in m and "loss/elbo_bits" not in m for m in fitting)
    assert all(not any(key.startswith("heldout") for key in m) for m in fitting)
    assert [m["lr"] for m in fitting] == [after.config.prior_fit_lr] * 1 + [after.config.prior_fit_lr / 2] * 2
    assert len(after.history) == 2  # the loss curves cover training only


def test_prior_fit_steps_need_a_fitted_prior_and_sane_values(tmp_path):
    config = TrainConfig(iterations=2, prior_fit_steps=3)
    plain = model_config_for(make_problem("sine"), w_dim=4, z_dim=3, hidden_dim=16, fitted_prior=False)
    with pytest.raises(ValueError, match="needs a model with a fitted prior"):
        Trainer(config, plain, tmp_path / "x.pt")
    with pytest.raises(ValueError, match="prior_fit_steps"):
        TrainConfig(prior_fit_steps=-1)
    with pytest.raises(ValueError, match="prior_fit_lr"):
        TrainConfig(prior_fit_lr=0.0)


def test_prior_fit_loss_draws_from_a_frozen_posterior_and_starts_finite():
    model = make_model()
    data = make_batch()
    loss = model.prior_fit_loss(data)
    assert loss.shape == (len(COUNTS),) and torch.isfinite(loss).all()
    loss.sum().backward()
    assert all(p.grad is None for n, p in model.named_parameters() if not n.startswith("fitted_prior."))
    fresh = model.fitted_prior(data.part, None, data.batch, len(COUNTS))  # a unit-scale start
    torch.testing.assert_close(fresh.scale_tril, torch.eye(CONFIG.w_dim).expand_as(fresh.scale_tril) * fresh.scale_tril[0, 0, 0])
    with pytest.raises(ValueError, match="no fitted prior"):
        make_model(fitted_prior=False).prior_fit_loss(data)
