"""The paper's model in our scatter layout against the same math in the authors' dense layout.

    python benchmarks/bench_dense_reference.py [--steps 20] [--rounds 3] [--batch 128] [--widths cpu|paper]

The paper's model: a vector w~ with z, the independent part prior, no rendered sums. It is built once, as
``CompVAE``. The dense layout runs the same modules (the same weights) on zero-padded ``[B, K, F]`` tensors:
- the eq. (5) sums over the other parts become sums over the padded axis;
- the correlated posterior's KL is computed on the padded grid with masks;
- w~ is a masked sum.

Before timing, the benchmark checks that both layouts give the same loss on the same batch and noise.
Timed cases, each a forward, backward and Adam step of the global batch:
- uniform K = 4, 16 and 64;
- mixed K uniform in 1..16, padded to the largest K of the batch;
- the same mixed batch split into one dense sub-batch per K (gradients accumulated, one Adam step).

The layouts alternate in rounds in one process, so the ratios are measured against each other in one run.
A ratio above 1 means our layout is faster.

Our layout takes its sums the cheap way (``PartUpdateConv``: g's last layer folded into f's first, the
whole's features read once per whole). With ``--plain`` it takes them as written, like the dense layout:
the ratios then compare the layouts alone.
"""
from __future__ import annotations

import argparse
import time

import torch
from torch import Tensor
from torch.nn import functional as F
from torch_geometric.data import Batch

from compvae_geo import CompVAE, LatentNoise
from compvae_geo.problems import make_problem, model_config_for

WIDTHS = {"cpu": dict(), "paper": dict(hidden_dim=512, w_dim=32, z_dim=32, x_feature_dim=256, part_embed_dim=64,
                                       num_update_layers=4)}
PAPER_MODEL = dict(render_channels=0, prior_group_factor=False, prior_sees_count=False, prior_context_layers=0)


def padded(values: Tensor, counts: Tensor, k_max: int) -> tuple[Tensor, Tensor]:
    """``[N, F]`` parts as ``[B, k_max, F]`` (zeros beyond each whole's K) and the ``[B, k_max]`` mask."""
    mask = torch.arange(k_max)[None] < counts[:, None]
    out = values.new_zeros(counts.numel(), k_max, values.size(-1))
    out[mask] = values
    return out, mask


def dense_loss(model: CompVAE, whole: Tensor, part: Tensor, mask: Tensor, noise: LatentNoise) -> Tensor:
    """The mean negative ELBO (nats) of dense wholes ``[B, T]`` with parts ``[B, K]`` (``mask``: real parts)."""
    c = model.config
    soft = lambda raw, floor: floor + F.softplus(raw)  # noqa: E731 (the model's floored scales)
    features = model.x_encoder(whole)
    z_loc, z_raw = model.z_posterior(features).chunk(2, -1)
    z_scale = soft(z_raw, c.posterior_scale_floor)
    z = z_loc + z_scale * noise.z
    maskf = mask[..., None].to(whole.dtype)
    nodes = model.node_embedding(part) + c.node_noise_std * noise.node
    per_node_x = features[:, None].expand(-1, part.size(1), -1)
    h = torch.cat([per_node_x, z[:, None].expand(-1, part.size(1), -1), nodes, per_node_x * model.node_gate(nodes)], -1)
    for layer in model.part_updates:  # eq. (5): each part reads the sum of g over the other parts
        messages = layer.g(h) * maskf
        update = layer.f(torch.cat([h, messages.sum(1, keepdim=True) - messages], -1))
        h = h + update if update.shape == h.shape else update
    loc, log_var, logit = model.w_posterior(h).chunk(3, -1)
    logit = logit.masked_fill(~mask[..., None], float("-inf"))
    log_norm = torch.logsumexp(torch.cat([logit, logit.new_zeros(logit.size(0), 1, logit.size(-1))], 1), 1)
    rho = (logit - log_norm[:, None]).exp()  # 0 on padding
    k = mask.sum(1, keepdim=True)[..., None].to(whole.dtype)
    eps_sum = (noise.w * maskf).sum(1, keepdim=True)
    w = (loc + (0.5 * log_var).exp() * (noise.w - rho * eps_sum)) * maskf
    variance = log_var.exp() * (1 - 2 * rho + k * rho.pow(2))
    prior_loc, prior_raw = model.part_prior.head(model.part_prior.embedding(part)).chunk(2, -1)
    prior_var = soft(prior_raw, c.prior_scale_floor).pow(2)
    per_part = 0.5 * ((variance + (loc - prior_loc).pow(2)) / prior_var - 1 + prior_var.log() - log_var)
    loss_w = (per_part * maskf).sum((1, 2)) + log_norm.sum(-1)
    w_tilde = torch.cat([w.sum(1), k[:, 0]], -1)
    z_prior_loc, z_prior_raw = model.z_prior.net(w_tilde).chunk(2, -1)
    z_prior_scale = soft(z_prior_raw, c.prior_scale_floor)
    normal = lambda loc, scale: torch.distributions.Normal(loc, scale, validate_args=False)  # noqa: E731 (as the model)
    loss_z = (normal(z_loc, z_scale).log_prob(z) - normal(z_prior_loc, z_prior_scale).log_prob(z)).sum(-1)
    x_loc, x_raw = model.observation.decoder.net(torch.cat([z, w_tilde], -1)).chunk(2, -1)
    loss_x = -normal(x_loc, soft(x_raw, c.observation_scale_floor)).log_prob(whole).sum(-1)
    return loss_w + loss_z + loss_x


def dense_case(batch: Batch, noise: LatentNoise, wholes: Tensor) -> tuple:
    """The dense tensors of the wholes ``wholes`` of ``batch``, padded to their largest K."""
    counts = torch.bincount(batch.batch, minlength=batch.num_graphs)
    chosen = torch.isin(batch.batch, wholes)
    k_max = int(counts[wholes].max())
    part, mask = padded(batch.part[chosen, None], counts[wholes], k_max)
    dense_noise = LatentNoise(noise.z[wholes], padded(noise.node[chosen], counts[wholes], k_max)[0],
                              padded(noise.w[chosen], counts[wholes], k_max)[0])
    return batch.whole[wholes], part[..., 0], mask, dense_noise


def step(model: CompVAE, optimizer: torch.optim.Optimizer, losses) -> None:
    optimizer.zero_grad(set_to_none=True)
    total = sum(loss() for loss in losses)
    total.backward()
    optimizer.step()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--widths", choices=sorted(WIDTHS), default="cpu")
    parser.add_argument("--plain", action="store_true", help="our layout takes its sums as written (no folding)")
    args = parser.parse_args()
    problem = make_problem("sine")
    torch.manual_seed(0)
    model = CompVAE(model_config_for(problem, **PAPER_MODEL, **WIDTHS[args.widths]))
    for layer in model.part_updates if args.plain else ():
        layer.folded = False
    # lr 0: Adam does all its work but leaves the weights as they are, so no case can diverge the next one
    optimizer = torch.optim.Adam(model.parameters(), lr=0.0, fused=True)
    generator = torch.Generator().manual_seed(0)
    cases = {f"uniform K = {k}": problem.sample_batch(args.batch, k, min_parts=k, generator=generator)
             for k in (4, 16, 64)}
    cases["mixed K in 1..16"] = problem.sample_batch(args.batch, 16, generator=generator)
    print(f"the paper's model ({args.widths} widths{', plain sums' if args.plain else ''}), batch {args.batch}, "
          "forward + backward + Adam; ratio = dense time / our time (> 1: ours faster)")
    for name, batch in cases.items():
        noise = LatentNoise.sample(model.config, batch.num_graphs, batch.num_nodes)
        every = torch.arange(batch.num_graphs)
        dense = dense_case(batch, noise, every)
        ours = model.loss(batch, noise).elbo
        # the same math (float32); an untrained paper-width model overflows at K = 64 in both layouts alike
        torch.testing.assert_close(dense_loss(model, *dense), ours, rtol=1e-3, atol=1e-2, equal_nan=True)
        scale = 1.0 / batch.num_graphs
        layouts = {"ours (scatter)": [lambda b=batch, n=noise, s=scale: model.loss(b, n).elbo.sum() * s],
                   "dense, padded": [lambda d=dense, s=scale: dense_loss(model, *d).sum() * s]}
        if name.startswith("mixed"):
            counts = torch.bincount(batch.batch, minlength=batch.num_graphs)
            splits = [dense_case(batch, noise, (counts == k).nonzero()[:, 0]) for k in counts.unique().tolist()]
            layouts["dense, split by K"] = [lambda d=d, s=scale: dense_loss(model, *d).sum() * s for d in splits]
        times = dict.fromkeys(layouts, 0.0)
        for losses in layouts.values():
            step(model, optimizer, losses)  # warm-up
        for round_index in range(args.rounds):
            names = list(layouts) if round_index % 2 == 0 else list(reversed(layouts))
            for layout in names:
                start = time.perf_counter()
                for _ in range(args.steps):
                    step(model, optimizer, layouts[layout])
                times[layout] += (time.perf_counter() - start) / (args.steps * args.rounds)
        ours_ms = 1000 * times["ours (scatter)"]
        cells = [f"ours {ours_ms:.1f} ms"] + [f"{layout}: {1000 * t:.1f} ms, ratio {t / times['ours (scatter)']:.2f}"
                                              for layout, t in times.items() if layout != "ours (scatter)"]
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
