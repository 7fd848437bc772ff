"""Training: the run's config and presets, the trainer (checkpoints, resume, recovery), MLflow tracking."""
from compvae_geo._lazy import lazy_attributes

_WHERE = {"TrainConfig": ".config", "PRESETS": ".presets", "preset": ".presets", "Tracker": ".tracking",
          "TrackingUnavailable": ".tracking", "Trainer": ".trainer", "TrainResult": ".trainer",
          "resolve_device": ".trainer"}
__all__ = sorted(_WHERE)
__getattr__ = lazy_attributes(__name__, _WHERE)  # the trainer imports torch: only when first used
