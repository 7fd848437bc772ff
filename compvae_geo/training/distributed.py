"""Training over several processes (``torchrun``): which process this is, and the collectives the trainer needs.

One process (``world_size`` 1) needs no process group: every helper here then does nothing, so the
single-process trainer runs exactly as before. Under ``torchrun`` each process is one rank; rank 0 owns
MLflow, checkpoints, figures and the progress bar.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

DATA_SEED_STRIDE = 7_919  # rank r draws its data from seed + r * stride (rank 0: the seed, as one process does)
WORKER_SETTLE_SECONDS = 0.2  # before destroying the process group (see destroy_process_group)


@dataclass(frozen=True)
class Ranks:
    """Who this process is among the ``world_size`` processes of a run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0  # the index of this process on its machine (its GPU)

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that logs, checkpoints and prints."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """Whether there are several processes."""
        return self.world_size > 1

    @classmethod
    def from_environment(cls) -> Ranks:
        """The ranks ``torchrun`` sets (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``); one process without them."""
        return cls(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                   int(os.environ.get("LOCAL_RANK", 0)))

    def share(self, batch_size: int) -> int:
        """The wholes of a global batch of ``batch_size`` that this rank draws (``ValueError`` unless it divides)."""
        if batch_size % self.world_size:
            raise ValueError(f"--batch-size {batch_size} must be a multiple of the number of processes "
                             f"({self.world_size}), so that every rank draws the same share")
        return batch_size // self.world_size


def init_process_group(ranks: Ranks, device: torch.device) -> None:
    """Joins the run's process group: gloo on CPU, NCCL on CUDA (nothing for one process).

    Through ``torchrun``'s store (``MASTER_ADDR``/``MASTER_PORT``), under a key prefix of its own for each
    start of the workers: after a restart (``--max-restarts``), the addresses that the killed workers
    left in the store would otherwise be read back, and connecting to them fails.
    """
    if not ranks.distributed or dist.is_initialized():
        return
    agent_hosts_store = os.environ.get("TORCHELASTIC_USE_AGENT_STORE", "").lower() == "true"
    store = dist.TCPStore(os.environ.get("MASTER_ADDR", "127.0.0.1"), int(os.environ["MASTER_PORT"]),
                          ranks.world_size, is_master=ranks.is_main and not agent_hosts_store)
    start = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=ranks.rank,
                            world_size=ranks.world_size, store=dist.PrefixStore(f"compvae_geo/start-{start}", store))


def destroy_process_group() -> None:
    """Leaves the process group, if this process joined one (drop every ``DistributedDataParallel`` first).

    A gloo worker thread that frees the tensors of a finished collective needs the GIL, while the
    group's destructor waits for those threads holding it: a deadlock at exit (pytorch/pytorch#190489,
    seen here about one run in three). So every rank first waits at a barrier, then sleeps briefly
    (releasing the GIL) for the workers to finish, and only then destroys the group.
    """
    if dist.is_initialized():
        dist.barrier()
        time.sleep(WORKER_SETTLE_SECONDS)
        dist.destroy_process_group()


def all_true(flag: bool, device: torch.device) -> bool:
    """Whether ``flag`` holds on every rank (so that all ranks take the same branch)."""
    if not dist.is_initialized():
        return flag
    value = torch.tensor([int(flag)], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MIN)
    return bool(value.item())


def mean_over_ranks(tensor: torch.Tensor) -> torch.Tensor:
    """The mean of ``tensor`` over the ranks (``tensor`` itself for one process)."""
    if not dist.is_initialized():
        return tensor
    total = tensor.clone()
    dist.all_reduce(total)
    return total / dist.get_world_size()


def sum_over_ranks(value: float, device: torch.device) -> float:
    """The sum of a number over the ranks."""
    if not dist.is_initialized():
        return value
    total = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(total)
    return float(total.item())


def broadcast(value: Any) -> Any:
    """Rank 0's ``value`` on every rank (a picklable object)."""
    if not dist.is_initialized():
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather(value: Any) -> list[Any]:
    """Every rank's ``value``, in rank order, on every rank."""
    if not dist.is_initialized():
        return [value]
    values: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(values, value)
    return values
