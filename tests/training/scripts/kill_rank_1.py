"""``compvae-geo`` whose rank 1 kills itself (SIGKILL) at step 12 of the first start; torchrun restarts it.

Usage: torchrun --nproc-per-node 2 --max-restarts 1 kill_rank_1.py train ...
"""
import os
import signal
import sys

from compvae_geo.cli import main
from compvae_geo.training import Trainer

KILL_AT_STEP = 12

real_train_step = Trainer.train_step


def train_step(self, *args, **kwargs):
    first_start = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") == "0"
    if first_start and self.ranks.rank == 1 and self.step == KILL_AT_STEP:
        os.kill(os.getpid(), signal.SIGKILL)
    return real_train_step(self, *args, **kwargs)


Trainer.train_step = train_step
sys.exit(main(sys.argv[1:]))
