"""Train CompVAE on the paper's 1D problem (sums of sines under a tanh), tracked in MLflow.

python examples/train_sine.py                  # the CPU preset (or the paper's with a GPU)
python examples/train_sine.py --iterations 500 # any option of `compvae-geo train --help`
"""
import sys

from compvae_geo.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", "--problem", "sine", *sys.argv[1:]]))
