"""One trial: optimizer, learning-rate schedule, epoch loop, metrics, divergence guard, checkpoints.

`run_trial(TrialConfig, report)` runs a trial from a config; `fit(model, splits, TrainConfig)`
trains any `nn.Module` on loaded splits with the same loop.
"""

from ablate.train.config import PROTOCOLS, TrainConfig
from ablate.train.loop import TrialResult, evaluate, fit, parameter_groups, resolve_device, seed_everything
from ablate.train.schedule import LRSchedule
from ablate.train.trial import TrialConfig, run_trial

__all__ = [
    "LRSchedule",
    "PROTOCOLS",
    "TrainConfig",
    "TrialConfig",
    "TrialResult",
    "evaluate",
    "fit",
    "parameter_groups",
    "resolve_device",
    "run_trial",
    "seed_everything",
]
