"""Training: the run's config, presets and specification, the trainer (checkpoints, resume, recovery)."""
from compvae_geo._lazy import lazy_attributes

_WHERE = {"TrainConfig": ".config", "PRESETS": ".presets", "preset": ".presets", "RunSpec": ".spec",
          "resolve_device": ".spec", "Trainer": ".trainer", "TrainResult": ".trainer"}
__all__ = sorted(_WHERE)
__getattr__ = lazy_attributes(__name__, _WHERE)  # the trainer imports torch: only when first used
