"""``compvae-geo`` whose rank 1 kills itself (SIGKILL) at step $KILL_AT_STEP (12) of its first start.

torchrun then restarts the group.

Usage: torchrun --nproc-per-node 2 --max-restarts 1 kill_rank_1.py train ...

Markers in the working directory prove what happened: ``killed`` (written by rank 1 just before it kills itself,
with the step) and ``restarted.rank<r>`` (written by each rank of the restarted group at its first step, with the
restart count and the step it goes on from).
"""
import os
import signal
import sys
from pathlib import Path

from compvae_geo.cli import main
from compvae_geo.training import Trainer

KILL_AT_STEP = int(os.environ.get("KILL_AT_STEP", "12"))

real_train_step = Trainer.train_step


def train_step(self, *args, **kwargs):
    restart = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"))
    if restart == 0 and self.ranks.rank == 1 and self.step == KILL_AT_STEP:
        Path("killed").write_text(f"{self.step}")
        os.kill(os.getpid(), signal.SIGKILL)
    marker = Path(f"restarted.rank{self.ranks.rank}")
    if restart > 0 and not marker.exists():
        marker.write_text(f"{restart} {self.step}")
    return real_train_step(self, *args, **kwargs)


Trainer.train_step = train_step
sys.exit(main(sys.argv[1:]))
