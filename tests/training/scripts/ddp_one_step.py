"""Three steps under torchrun on this rank's share of a fixed global batch: a plain one, a logged one, a non-finite one.

The first step is compared with one process's, the second goes through ``Trainer.run`` (which logs), the third has a
loss that is not finite on rank 1 only.

Usage: torchrun --nproc-per-node 2 ddp_one_step.py OUT

Each rank saves the weights after the first step, its own losses of the logged step and what it logged, and the
skipped steps and whether its weights stayed as they were after the last step.
"""
import sys
from dataclasses import replace

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


def logged_step(trainer):
    """One more step through ``Trainer.run``, which logs: this rank's own mean losses, and the metrics it logged."""
    own, logged = [], []
    real_train_step = trainer.train_step

    def recording_train_step(*args, **kwargs):
        means = real_train_step(*args, **kwargs)
        own.append(means.clone())
        return means

    trainer.train_step = recording_train_step
    trainer.config = replace(trainer.config, iterations=trainer.step + 1, log_every=1)
    trainer.run(on_log=lambda step, metrics: logged.append(metrics))
    del trainer.train_step  # the trainer's own again
    return {"own_means": own[0], "logged": logged[0]}


def main(out):
    ranks = Ranks.from_environment()
    init_process_group(ranks, torch.device("cpu"))
    config = TrainConfig(batch_size=GLOBAL_BATCH, k_max=3, kl_warmup_steps=0, eval_wholes=4, eval_part_counts=(1,),
                         checkpoint_minutes=1e6)
    model_config = model_config_for(make_problem("sine"), **TINY)
    trainer = Trainer(RunSpec.build(config, f"{out}.unused.pt", model=model_config), ranks=ranks)
    batch, noise = global_batch_and_noise(model_config)
    if ranks.distributed:
        batch, noise = share(batch, noise, ranks.rank, ranks.world_size)
    trainer.train_step(batch, noise)
    results = {"state_dict": {key: value.clone() for key, value in trainer.model.state_dict().items()},
               "skipped_steps": trainer.skipped_steps}
    results.update(logged_step(trainer))
    before = {key: value.clone() for key, value in trainer.model.state_dict().items()}
    if ranks.rank == 1:
        noise.z.fill_(float("nan"))  # a non-finite loss on this rank only
    trainer.train_step(batch, noise)
    results["skipped_after_nan"] = trainer.skipped_steps
    after = trainer.model.state_dict()
    results["unchanged_by_nan"] = all(torch.equal(before[key], value) for key, value in after.items())
    torch.save(results, f"{out}.rank{ranks.rank}.pt")
    trainer.close()
    destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
