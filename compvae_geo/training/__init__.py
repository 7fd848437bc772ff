"""Training: the run's config and presets, the trainer (checkpoints, resume, recovery), MLflow tracking."""
from .config import TrainConfig
from .presets import PRESETS, preset
from .tracking import Tracker, TrackingUnavailable
from .trainer import Trainer, TrainResult, resolve_device

__all__ = ["PRESETS", "TrainConfig", "TrainResult", "Trainer", "Tracker", "TrackingUnavailable", "preset",
           "resolve_device"]
