"""Small builders shared by the tests."""
from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.data import Batch, Data

from compvae_geo import LatentNoise


def batch_vector(counts: list[int]) -> Tensor:
    """The PyG batch vector of wholes with ``counts[b]`` parts each."""
    return torch.repeat_interleave(torch.arange(len(counts)), torch.tensor(counts, dtype=torch.long))


def to_padded(x: Tensor, counts: list[int]) -> tuple[Tensor, Tensor]:
    """``[N, F]`` parts to ``[B, Kmax, F]`` zero-padded wholes and a ``[B, Kmax]`` mask."""
    k_max = max(counts + [1])
    padded = x.new_zeros(len(counts), k_max, *x.shape[1:])
    mask = torch.zeros(len(counts), k_max, dtype=torch.bool)
    start = 0
    for b, k in enumerate(counts):
        padded[b, :k] = x[start : start + k]
        mask[b, :k] = True
        start += k
    return padded, mask


def dense_update_stack(stack, h: Tensor, mask: Tensor) -> Tensor:
    """A PartUpdateStack on zero-padded wholes [B, K_max, F]: each part reads the sum of g over the others."""
    for layer in stack:
        messages = layer.g(h) * mask[..., None]
        update = layer.f(torch.cat([h, messages.sum(1, keepdim=True) - messages], -1))
        h = h + update if update.shape == h.shape else update
    return h


def from_padded(padded: Tensor, mask: Tensor) -> Tensor:
    """Inverse of :func:`to_padded`."""
    return padded[mask]


def sine_batch(problem, num_categories: int, counts: list[int], seed: int = 0) -> Batch:
    """A Batch of wholes of ``problem`` with ``counts[b]`` parts of random categories each."""
    gen = torch.Generator().manual_seed(seed)
    part = torch.randint(0, num_categories, (sum(counts),), generator=gen)
    data = [Data(part=p, whole=problem.sample_wholes(p, 1, generator=gen), num_nodes=p.numel())
            for p in part.split(counts)]
    return Batch.from_data_list(data)


def assert_loss_permutation_invariant_and_batched_like_one_by_one(model, data: Batch, noise) -> None:
    """``model.loss`` of ``data`` with ``noise``.

    Unchanged when the parts of each whole are listed in reverse (noise permuted alike), and each whole's terms equal
    those of the whole alone.
    """
    terms = model.loss(data, noise)
    order = torch.cat([torch.arange(s, e).flip(0) for s, e in zip(data.ptr[:-1], data.ptr[1:])])
    permuted = data.clone()
    permuted.part = data.part[order]
    if getattr(data, "part_attr", None) is not None:
        permuted.part_attr = data.part_attr[order]
    permuted_noise = LatentNoise(noise.z, noise.node[order], noise.w[order])
    torch.testing.assert_close(model.loss(permuted, permuted_noise).elbo, terms.elbo, rtol=1e-4, atol=1e-3)
    for b, single in enumerate(data.to_data_list()):
        nodes = slice(int(data.ptr[b]), int(data.ptr[b + 1]))
        one = LatentNoise(noise.z[b:b + 1], noise.node[nodes], noise.w[nodes])
        torch.testing.assert_close(model.loss(single, one).elbo, terms.elbo[b:b + 1], rtol=1e-4, atol=1e-3)


# A training run that takes a second: the command-line flags, and the model sizes as a dict
TINY_MODEL = dict(w_dim=4, z_dim=3, hidden_dim=16, x_feature_dim=8, part_embed_dim=4, num_update_layers=1)
RESUME = ["train", "--no-log-model", "--resume"]  # a resumed run's command (a test logs no MLflow Model)
# a tiny run with no MLflow Model and no final figures (a test that checks them adds --figures or --log-model)
TINY_TRAIN = ["--no-log-model", "--no-figures", "--iterations", "6", "--batch-size", "8", "--log-every", "2",
              "--eval-every", "4", "--eval-wholes", "4", "--eval-part-counts", "1,3", "--k-max", "3"]
TINY_MODEL_ARGS = [arg for key, value in TINY_MODEL.items() for arg in (f"--{key.replace('_', '-')}", str(value))]


def tiny_trainer(tmp_path, **changes):
    """A trainer of the tiny model on 3-part sine wholes, its checkpoint in ``tmp_path`` (``changes``: TrainConfig)."""
    from compvae_geo.training import RunSpec, TrainConfig, Trainer

    config = TrainConfig(**{**dict(device="cpu", batch_size=16, k_start=3, k_max=3, kl_warmup_steps=4, seed=0,
                                   eval_wholes=64, eval_part_counts=(1, 3), checkpoint_minutes=1e6), **changes})
    return Trainer(RunSpec.build(config, tmp_path / "c.pt", TINY_MODEL))


def assert_draws_like_a_simulation(dist, simulated: Tensor, mean_atol: float, quantile_atol: float) -> None:
    """A law's draws and a simulation of its parts ``[n]`` share the law's mean, variance and quantiles (one law)."""
    drawn = dist.sample()
    for sample in (simulated, drawn):
        torch.testing.assert_close(sample.mean(), dist.mean[0], atol=mean_atol, rtol=0)
        torch.testing.assert_close(sample.var(), dist.variance[0], atol=0.0, rtol=0.02)
    q = torch.tensor([0.1, 0.5, 0.9, 0.99], dtype=torch.float64)
    torch.testing.assert_close(drawn.quantile(q), simulated.quantile(q), atol=quantile_atol, rtol=0.01)


def assert_noise_map_draws_the_law_and_abducts_back(dist, num_laws: int, noises: int, quantile_atol: float) -> None:
    """Fresh noise through the map draws the law, and the noise abducted from its draws gives them back.

    ``dist``: ``num_laws`` laws interleaved along one batch axis; ``noises`` standard normals per value. The noise
    abducted from draws of the law is standard normal with independent coordinates.
    """
    from compvae_geo.models.observation_noise import noise_of_whole, whole_from_noise

    size = dist.batch_shape[0]
    mapped = whole_from_noise(dist, torch.randn(size, noises, dtype=torch.float64))
    drawn = dist.sample()
    q = torch.tensor([0.05, 0.5, 0.9, 0.99], dtype=torch.float64)
    for k in range(num_laws):  # the same quantiles as the law's own draws, law by law
        torch.testing.assert_close(mapped[k::num_laws].quantile(q), drawn[k::num_laws].quantile(q),
                                   atol=quantile_atol, rtol=0.02)
    noise = noise_of_whole(dist, drawn)
    assert noise.shape == (size, noises)
    torch.testing.assert_close(whole_from_noise(dist, noise), drawn)
    torch.testing.assert_close(noise.mean(0), torch.zeros(noises, dtype=torch.float64), atol=0.02, rtol=0)
    torch.testing.assert_close(noise.std(0), torch.ones(noises, dtype=torch.float64), atol=0.02, rtol=0)
    assert (torch.corrcoef(noise.T) - torch.eye(noises, dtype=torch.float64)).abs().max() < 0.02


def assert_log_prob_is_the_reference_batched_or_alone(law, reference_log_prob, values: list[float]) -> None:
    """``law(counts).log_prob`` is ``reference_log_prob(K, value)`` per whole, batched or alone.

    Wholes of K = 1, 3, 1, 17 in one batch (the padded components of a small K must weigh 0); the first two wholes
    alone give the same.
    """
    counts = torch.tensor([1.0, 3.0, 1.0, 17.0], dtype=torch.float64)
    values = torch.tensor(values, dtype=torch.float64)
    got = law(counts).log_prob(values)
    expected = torch.stack([reference_log_prob(int(k), v) for k, v in zip(counts, values, strict=True)])
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(got[:2], law(counts[:2]).log_prob(values[:2]))  # batched = alone
