"""The full ELBO of the households preset's options against a dense re-implementation of the same math.

z first (p(z | {l_i}, c) from a mean of part embeddings and 1 / (K + 1), then p(w_i | l_i, z)), the group-factor part
prior, rendered part sums, part descriptors and known conditions (some rows unknown), and the observation model either
Gaussian or per-household jumps, reading the number of households K or blind to it as the preset is (the encoder reads
x / K, no 1/(K+1), 1/m_i or 1/K): every term written out on zero-padded wholes, with the covariances of the posterior
and the prior as explicit matrices and the jump law as torch's mixture over the number of jumps, step by step.
"""
import pytest
import torch
import torch.nn.functional as F
from helpers import dense_update_stack, to_padded
from torch.distributions import Categorical, MixtureSameFamily, MultivariateNormal, Normal

from compvae_geo import CompVAE, LatentNoise
from compvae_geo.datasets import HouseholdParts, batch_from_tensors
from compvae_geo.problems import model_config_for

PROBLEM = HouseholdParts()
OPTIONS = dict(w_dim=3, z_dim=4, hidden_dim=16, x_feature_dim=8, part_embed_dim=5, num_update_layers=2,
               z_first=True, prior_group_factor=True, render_channels=2, render_hidden_dim=4)


def soft(raw: torch.Tensor, floor: float) -> torch.Tensor:
    return floor + F.softplus(raw)


def dense_loss(model: CompVAE, data, noise: LatentNoise, counts: list[int]):
    c = model.config
    known = ~torch.isnan(data.whole_attr).any(-1, keepdim=True)
    conditions = torch.cat([torch.where(known, data.whole_attr, 0.0), known.float()], -1)
    k = torch.tensor(counts, dtype=torch.float).unsqueeze(-1)
    features = model.x_encoder(data.whole if c.sees_count else data.whole / k.clamp(min=1))  # blind to K: x per part
    z_loc, z_raw = model.z_posterior(torch.cat([features, conditions], -1)).chunk(2, -1)
    z_scale = soft(z_raw, c.posterior_scale_floor)
    z = z_loc + z_scale * noise.z
    nodes, mask = to_padded(model.node_embedding(data.part, data.part_attr) + c.node_noise_std * noise.node, counts)
    k_max = nodes.size(1)
    per_node_x = features[:, None].expand(-1, k_max, -1)
    h = torch.cat([per_node_x, z[:, None].expand(-1, k_max, -1), nodes, per_node_x * model.node_gate(nodes)], -1)
    loc, log_var, logit = model.w_posterior(dense_update_stack(model.part_updates, h, mask)).chunk(3, -1)
    logit = logit.masked_fill(~mask[..., None], float("-inf"))
    rho = torch.softmax(torch.cat([logit, logit.new_zeros(len(counts), 1, c.w_dim)], 1), dim=1)[:, :k_max]
    eps, _ = to_padded(noise.w, counts)
    w = loc + (0.5 * log_var).exp() * (eps - rho * eps.sum(1, keepdim=True))
    # w~: the vector sum, the count, and each part rendered alone on the day's grid, summed
    part, _ = to_padded(data.part, counts)
    attr, _ = to_padded(data.part_attr, counts)
    rendered = torch.stack([
        sum((model.part_renderer(torch.cat([w[b, i:i + 1], model.render_embedding(part[b, i:i + 1], attr[b, i:i + 1])],
                                           -1))[0] for i in range(k)), torch.zeros(c.render_channels, *c.obs_shape))
        for b, k in enumerate(counts)])
    vector = torch.cat([(w * mask[..., None]).sum(1), mask.sum(1, keepdim=True).float()], -1)
    # p(z | {l_i}, c): the mean embedding of the multiset and 1 / (K + 1) (z's prior blind to K: the mean alone)
    embedded, _ = to_padded(model.z_prior.embedding(data.part, data.part_attr), counts)
    summary = (embedded * mask[..., None]).sum(1) / k.clamp(min=1)
    summary = torch.cat([summary, 1 / (k + 1)], -1) if c.z_prior_sees_count else summary
    prior_z_loc, prior_z_raw = model.z_prior.net(torch.cat([summary, conditions], -1)).chunk(2, -1)
    loss_z = (Normal(z_loc, z_scale).log_prob(z) - Normal(prior_z_loc, soft(prior_z_raw, c.prior_scale_floor))
              .log_prob(z)).sum(-1)
    # p(w_i | l_i, m_i, z): each part reads 1/m_i (m_i parts of its category in its whole; not blind to K) and z
    prior = model.part_prior
    loss_w = []
    for b, count in enumerate(counts):
        kl = torch.tensor(0.0)
        if count:
            p = part[b, :count]
            same = (p[:, None] == p[None, :]).float()
            embedding = prior.embedding(p, attr[b, :count]) + prior.z(z[b])
            if c.sees_count:
                embedding = embedding + prior.group_size(1 / same.sum(1, keepdim=True))
            prior_loc, prior_raw, loading = prior.head(embedding).split(c.w_dim, -1)
            prior_scale = soft(prior_raw, c.prior_scale_floor)
            for d in range(c.w_dim):
                a = torch.diag((0.5 * log_var[b, :count, d]).exp()) @ (torch.eye(count) - rho[b, :count, d, None])
                covariance = torch.diag(prior_scale[:, d] ** 2) + same * loading[:, d, None] * loading[None, :, d]
                kl = kl + torch.distributions.kl_divergence(MultivariateNormal(loc[b, :count, d], a @ a.T),
                                                            MultivariateNormal(prior_loc[:, d], covariance))
        loss_w.append(kl)
    latent = torch.cat([z, vector, conditions], -1)
    if not c.per_part_decoder:
        x_loc, x_raw = model.observation.decoder(latent, rendered)
        loss_x = -Normal(x_loc, soft(x_raw, c.observation_scale_floor).expand_as(x_loc)).log_prob(data.whole).sum(-1)
        return torch.stack(loss_w), loss_z, loss_x
    loss_x = [dense_jump_loss_x(model, latent[b], rendered[b], data.whole[b], count) for b, count in enumerate(counts)]
    return torch.stack(loss_w), loss_z, torch.stack(loss_x)


def dense_jump_loss_x(model: CompVAE, latent, rendered, whole, count: int):
    """-log p(x) of one whole of ``count`` jumping households: a mixture over the number of jumps, step by step."""
    c = model.config
    z, vector, conditions = latent.split([c.z_dim, c.whole_latent_dim, c.condition_dim])
    reads_count = [torch.tensor([1 / count])] if c.decoder_sees_count else []
    per_part = torch.cat([z, vector / count, conditions, *reads_count])[None]
    x_loc, x_raw = (t[0] for t in model.observation.decoder(per_part, rendered[None] / count))
    observation = model.observation
    jumps = observation.jump_net(per_part).view(observation.jump_channels, -1)
    if observation.jump_head is not None:  # the jump law also reads each step's rendered sum per part
        jumps = torch.stack([observation.jump_head.net(torch.cat([jumps[:, t], rendered[:, t] / count]))
                             for t in range(whole.numel())], -1)
    kinds = c.jump_kinds  # with several: each kind's logit, then its jump logit, size and spread
    kind_logit, logit, raw_size, raw_spread = jumps.view(4, kinds, -1) if kinds > 1 else \
        (torch.zeros(1, whole.numel()), *jumps[:, None])
    scale, size = soft(x_raw, c.observation_scale_floor), F.softplus(raw_size)
    spread = soft(raw_spread, c.observation_scale_floor)
    total = torch.tensor(0.0)
    for t in range(whole.numel()):  # a mixture over the kind m and the number of jumps of that kind
        jumps = torch.arange(count + 1.0)
        weights, levels, stds = [], [], []
        for m in range(kinds):
            weights.append(kind_logit[:, t].log_softmax(0)[m]
                           + torch.distributions.Binomial(count, logits=logit[m, t]).log_prob(jumps))
            levels.append(count * x_loc[t] + jumps * size[m, t])
            stds.append((count * scale[t] ** 2 + jumps * spread[m, t] ** 2).sqrt())
        mixture = MixtureSameFamily(Categorical(logits=torch.cat(weights)), Normal(torch.cat(levels), torch.cat(stds)))
        total = total - mixture.log_prob(whole[t])
    return total


@pytest.mark.parametrize("observation", [
    {}, dict(per_part_decoder=True, observation_jumps=True),
    dict(per_part_decoder=True, observation_jumps=True, sees_count=False),
    dict(per_part_decoder=True, observation_jumps=True, sees_count=False, z_prior_sees_count=True),
    dict(per_part_decoder=True, observation_jumps=True, sees_count=False, decoder_sees_count=False),
    dict(per_part_decoder=True, observation_jumps=True, sees_count=False, z_prior_sees_count=True,
         jumps_read_render=True),
    dict(per_part_decoder=True, observation_jumps=True, sees_count=False, z_prior_sees_count=True, jump_kinds=2),
    dict(per_part_decoder=True, observation_jumps=True, jump_kinds=3, jumps_read_render=True)],
    ids=["gaussian", "per-part jumps", "per-part jumps, latents blind to K", "latents blind to K but z's prior",
         "per-part jumps blind to K", "jumps reading the rendered parts", "jumps of two kinds",
         "three kinds reading the rendered parts"])
def test_the_households_options_give_the_dense_elbo(observation):
    torch.manual_seed(0)
    model = CompVAE(model_config_for(PROBLEM, **OPTIONS, **observation))
    counts = [3, 1, 1, 3] if observation else [3, 1, 0, 4]  # a per-part model refuses a whole of no parts
    part = torch.tensor([4, 0, 4, 6, 2, 4, 2, 1])  # repeated categories within wholes: shared factors at work
    generator = torch.Generator().manual_seed(3)
    part_attr = PROBLEM.sample_part_attr(part, generator)
    whole_attr = PROBLEM.conditions("weekday", -5.0).expand(len(counts), -1).clone()
    whole_attr[1] = float("nan")  # this whole's conditions are unknown
    whole = torch.randn(len(counts), *PROBLEM.obs_shape, generator=generator).abs()
    data = batch_from_tensors(torch.tensor(counts), part, whole, part_attr, whole_attr)
    noise = LatentNoise.sample(model.config, len(counts), part.numel())
    terms = model.loss(data, noise)
    loss_w, loss_z, loss_x = dense_loss(model, data, noise, counts)
    close = dict(rtol=1e-4, atol=1e-3)
    torch.testing.assert_close(terms.w, loss_w, **close)
    torch.testing.assert_close(terms.z, loss_z, **close)
    torch.testing.assert_close(terms.x, loss_x, **close)
    empty = [b for b, count in enumerate(counts) if not count]
    assert (terms.w[empty] == 0).all() and (terms.w[[b for b in range(len(counts)) if counts[b]]] > 0).all()
