"""What a training step of a problem's CPU preset costs, against the same math computed plainly, in one process.

    python benchmarks/bench_cpu_step.py [--problem sine] [--steps 30] [--rounds 6] [--candidates]

Variants, all at the preset's largest K and alternating in rounds (so ratios are measured in the same run):

- ``as filed``: the step when issue 18 was filed: its preset's model (``MODEL_AS_FILED``) computed as in
  ``plain sums`` (below), a single-tensor Adam, and the gradient-norm check by ``clip_grad_norm_``;
- ``preset``: the code as it is;
- ``plain sums``: the same model and weights, computed as the math is written: each part rendered
  before the rendered sum, g's outputs summed in every PartUpdateConv, the whole's features copied to its
  parts, the prior's network run on every part, the decoder's pointwise head writing strided outputs (the
  losses are equal to float precision);
- with ``--candidates``, other models (``CANDIDATES``, changes to the sine preset) measured as presets
  (their quality is in docs/experiments.md).

Prints ms per step of each and its speed-ups over ``as filed`` and ``plain sums``.
"""
from __future__ import annotations

import argparse
import types

import torch
from preset_steps import step_times

from compvae_geo.codecs import PointwiseHead
from compvae_geo.codecs.part_renderer import PartRenderer
from compvae_geo.layers import PartUpdateConv
from compvae_geo.models.part_prior import PartPrior
from compvae_geo.training import Trainer

# The model of each problem's preset when issue 18 was filed, as changes to today's preset.
MODEL_AS_FILED = {"sine": dict(num_update_layers=3)}
CANDIDATES = {  # measured as cheaper sine presets (docs/experiments.md)
    "3 update layers": dict(num_update_layers=3),
    "hidden_dim 96": dict(hidden_dim=96),
    "render_hidden_dim 16": dict(render_hidden_dim=16),
}


def compute_plainly(trainer: Trainer) -> None:
    """The trainer's model computes as written: per-part renderings, messages and priors (the same function)."""
    for module in trainer.model.modules():
        if isinstance(module, PartUpdateConv):
            module.folded = False
        if isinstance(module, PartRenderer):
            module.render_sum = types.MethodType(PartRenderer.render_sum, module)
        if isinstance(module, PartPrior):
            module.per_kind = False
        if isinstance(module, PointwiseHead):
            module.forward = types.MethodType(plain_pointwise_head, module)


def plain_pointwise_head(self: PointwiseHead, features: torch.Tensor, rendered: torch.Tensor) -> torch.Tensor:
    """PointwiseHead as first written: its MLP on channels-last inputs, the output moved back (strided)."""
    return self.net(torch.cat([features, rendered], dim=1).movedim(1, -1)).movedim(-1, 1)


def as_filed(trainer: Trainer) -> None:
    """The step when issue 18 was filed: computed plainly, a single-tensor Adam, the gradient norm by clipping."""
    compute_plainly(trainer)
    group = trainer.optimizer.param_groups[0]
    trainer.optimizer = torch.optim.Adam(group["params"], lr=group["lr"], betas=group["betas"], foreach=False)

    def apply_as_filed(self: Trainer, loss: torch.Tensor) -> bool:  # Trainer._apply then, for one process
        for param_group in self.optimizer.param_groups:
            param_group["lr"] = self.config.learning_rate_at(self.step)
        self.step += 1
        self.optimizer.zero_grad(set_to_none=True)
        if bool(torch.isfinite(loss)):
            loss.backward()
            if torch.isfinite(torch.nn.utils.clip_grad_norm_(self.model.parameters(), float("inf"))):
                self.optimizer.step()
                return True
        return False

    trainer._apply = types.MethodType(apply_as_filed, trainer)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--problem", default="sine")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--candidates", action="store_true")
    args = parser.parse_args()
    variants = {"as filed": MODEL_AS_FILED.get(args.problem, {}), "plain sums": {}, "preset": {},
                **(CANDIDATES if args.candidates else {})}
    times = step_times(args.problem, variants, args.steps, args.rounds,
                       adjust={"as filed": as_filed, "plain sums": compute_plainly})
    for name, ms in times.items():
        print(f"{args.problem} {name}: {ms:.1f} ms/step, {times['as filed'] / ms:.2f}x the step as filed, "
              f"{times['plain sums'] / ms:.2f}x plain sums")


if __name__ == "__main__":
    main()
