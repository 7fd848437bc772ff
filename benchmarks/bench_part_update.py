"""PartUpdateConv: the O(|V|) implicit complete graph against an explicit complete-graph edge_index.

    python benchmarks/bench_part_update.py [--parts 16 128 1024] [--wholes 8] [--channels 128]

Prints, per K (parts per whole), the median time of a forward+backward pass of each and their
ratio, measured in the same run. The explicit version costs O(sum K^2) messages.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from compvae_geo.layers import PartUpdateConv


def complete_graph(counts: list[int]) -> torch.Tensor:
    """All ordered pairs (j, i), j != i, inside each whole."""
    edges, start = [], 0
    for k in counts:
        nodes = torch.arange(start, start + k)
        src, dst = torch.meshgrid(nodes, nodes, indexing="ij")
        keep = src != dst
        edges.append(torch.stack([src[keep], dst[keep]]))
        start += k
    return torch.cat(edges, dim=1)


def median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", type=int, nargs="+", default=[16, 128, 1024])
    parser.add_argument("--wholes", type=int, default=8)
    parser.add_argument("--channels", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.manual_seed(0)
    layer = PartUpdateConv(args.channels, args.channels)
    print(f"{'K':>6} {'parts':>7} {'implicit ms':>12} {'edge_index ms':>14} {'ratio':>7}")
    for k in args.parts:
        counts = [k] * args.wholes
        x = torch.randn(sum(counts), args.channels, requires_grad=True)
        batch = torch.repeat_interleave(torch.arange(args.wholes), torch.tensor(counts))
        edge_index = complete_graph(counts)
        implicit = median_seconds(lambda x=x, batch=batch: layer(x, batch).sum().backward(), args.repeats)
        explicit = median_seconds(lambda x=x, e=edge_index: layer(x, edge_index=e).sum().backward(), args.repeats)
        print(f"{k:>6} {sum(counts):>7} {1e3 * implicit:>12.2f} {1e3 * explicit:>14.2f} {explicit / implicit:>6.1f}x")


if __name__ == "__main__":
    main()
