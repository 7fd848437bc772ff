"""Train CompVAE on the paper's 2D problem (colored sites blended into 32 x 32 images), tracked in MLflow.

python examples/train_sites.py                  # the CPU preset (or the paper's with a GPU)
python examples/train_sites.py --iterations 500 # any option of `compvae-geo train --help`
"""
import sys

from compvae_geo.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", "--problem", "sites", *sys.argv[1:]]))
