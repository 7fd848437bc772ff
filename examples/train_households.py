"""Train CompVAE on the households problem (a feeder's daily load from its households), tracked in MLflow.

python examples/train_households.py                  # the CPU preset (or the paper-sized one with a GPU)
python examples/train_households.py --iterations 500 # any option of `compvae-geo train --help`
"""
import sys

from compvae_geo.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", "--problem", "households", *sys.argv[1:]]))
