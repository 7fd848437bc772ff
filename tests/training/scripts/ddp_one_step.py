"""One training step under torchrun on this rank's share of a fixed global batch; rank 0 saves the result.

Usage: torchrun --nproc-per-node 2 ddp_one_step.py OUT [nan_on_rank_1]
"""
import sys

import torch
from torch_geometric.data import Batch

from compvae_geo import LatentNoise
from compvae_geo.problems import make_problem, model_config_for
from compvae_geo.training import RunSpec, TrainConfig, Trainer
from compvae_geo.training.distributed import Ranks, destroy_process_group, init_process_group

TINY = dict(w_dim=4, z_dim=3, hidden_dim=16, x_feature_dim=8, part_embed_dim=4, num_update_layers=1)
GLOBAL_BATCH = 8


def global_batch_and_noise(config):
    """The same wholes and latent noise on every process."""
    batch = make_problem("sine").sample_batch(GLOBAL_BATCH, 3, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(2)
    return batch, LatentNoise.sample(config, GLOBAL_BATCH, batch.num_nodes)


def share(batch, noise, rank, world_size):
    """The wholes of ``rank`` (and their noise) out of the global batch."""
    per_rank = GLOBAL_BATCH // world_size
    wholes = range(rank * per_rank, (rank + 1) * per_rank)
    parts = slice(int(batch.ptr[wholes[0]]), int(batch.ptr[wholes[-1] + 1]))
    local = Batch.from_data_list([batch.get_example(b) for b in wholes])
    return local, LatentNoise(noise.z[wholes[0]:wholes[-1] + 1], noise.node[parts], noise.w[parts])


def main(out, nan_on_rank_1=False):
    ranks = Ranks.from_environment()
    init_process_group(ranks, torch.device("cpu"))
    config = TrainConfig(batch_size=GLOBAL_BATCH, k_max=3, kl_warmup_steps=0)
    model_config = model_config_for(make_problem("sine"), **TINY)
    trainer = Trainer(RunSpec.build(config, f"{out}.unused.pt", model=model_config), ranks=ranks)
    batch, noise = global_batch_and_noise(model_config)
    if ranks.distributed:
        batch, noise = share(batch, noise, ranks.rank, ranks.world_size)
    if nan_on_rank_1 and ranks.rank == 1:
        noise.z.fill_(float("nan"))  # a non-finite loss on this rank only
    trainer.train_step(batch, noise)
    results = {"state_dict": trainer.model.state_dict(), "skipped_steps": trainer.skipped_steps}
    torch.save(results, f"{out}.rank{ranks.rank}.pt")
    trainer.close()
    destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1], len(sys.argv) > 2)
