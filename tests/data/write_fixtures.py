"""Writes the checkpoint fixtures of today's format: a model with every option the presets use, and its losses.

Run it from the repository root (``python tests/data/write_fixtures.py``) when the checkpoint format changes, and
keep the files of the previous format: ``tests/test_checkpoint.py`` checks that every format still loads and gives the
losses it gave when it was written. ``format2_*`` were written by this script at commit 9268b66.
"""
from pathlib import Path

import torch

from compvae_geo import CompVAE, LatentNoise
from compvae_geo.checkpoint import CHECKPOINT_FORMAT
from compvae_geo.datasets import HouseholdParts
from compvae_geo.models import CountCVAE
from compvae_geo.problems import model_config_for

HERE = Path(__file__).parent


def main() -> None:
    torch.manual_seed(0)
    problem = HouseholdParts()
    config = model_config_for(problem, z_dim=4, w_dim=4, hidden_dim=16, x_feature_dim=8, part_embed_dim=4,
                              render_channels=2, render_hidden_dim=4, prior_group_factor=True, z_first=True,
                              num_update_layers=1)
    model, baseline = CompVAE(config), CountCVAE(config)
    batch = problem.sample_batch(3, 4, generator=torch.Generator().manual_seed(1))
    noise = LatentNoise.sample(config, 3, batch.part.numel())
    terms = model.loss(batch, noise)
    model.save(HERE / f"format{CHECKPOINT_FORMAT}_model.pt")
    baseline.save(HERE / f"format{CHECKPOINT_FORMAT}_count_cvae.pt")
    torch.manual_seed(5)
    baseline_terms = baseline.loss(batch)
    expected = {"part": batch.part, "part_attr": batch.part_attr, "whole": batch.whole, "whole_attr": batch.whole_attr,
                "batch": batch.batch, "noise_z": noise.z, "noise_node": noise.node, "noise_w": noise.w,
                **{key: getattr(terms, key).detach() for key in "wzx"},
                **{f"cvae_{key}": getattr(baseline_terms, key).detach() for key in "wzx"}}
    torch.save(expected, HERE / f"format{CHECKPOINT_FORMAT}_expected.pt")


if __name__ == "__main__":
    main()
