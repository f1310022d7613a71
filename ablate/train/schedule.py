"""Learning-rate schedules as pure functions of the iteration.

A schedule is a function of the 0-based iteration alone, so a restored trial needs no schedule
state beyond its iteration count, and every iteration's learning rate can be tested directly.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

from ablate.train.config import TrainConfig

__all__ = ["LRSchedule"]


@dataclass(frozen=True)
class LRSchedule:
    """Step or cosine learning-rate schedule with an optional warm-up.

    Attributes:
        kind: `step` or `cosine`.
        lr: Peak learning rate.
        total_iterations: Iterations of the whole trial.
        milestones: Step-schedule milestones in iterations, ascending.
        gamma: Factor applied at each milestone.
        warmup_iterations: Iterations that use the warm-up rate.
        warmup_lr: Warm-up learning rate (start of the ramp for a linear warm-up).
        warmup: `constant` or `linear`.
    """

    kind: str
    lr: float
    total_iterations: int
    milestones: tuple[int, ...] = ()
    gamma: float = 0.1
    warmup_iterations: int = 0
    warmup_lr: float = 0.0
    warmup: str = "constant"

    @classmethod
    def from_config(cls, config: TrainConfig, steps_per_epoch: int) -> LRSchedule:
        """Build the schedule of a resolved `TrainConfig`."""
        per_unit = steps_per_epoch if config.milestone_unit == "epoch" else 1
        return cls(
            kind=config.schedule,
            lr=config.lr,
            total_iterations=config.epochs * steps_per_epoch,
            milestones=tuple(round(milestone * per_unit) for milestone in config.milestones),
            gamma=config.gamma,
            warmup_iterations=config.warmup_iterations,
            warmup_lr=config.warmup_lr,
            warmup=config.warmup,
        )

    def __call__(self, iteration: int) -> float:
        """Return the learning rate of the 0-based `iteration`."""
        if iteration < self.warmup_iterations:
            if self.warmup == "constant":
                return self.warmup_lr
            target = self._after_warmup(self.warmup_iterations)
            return self.warmup_lr + (target - self.warmup_lr) * iteration / self.warmup_iterations
        return self._after_warmup(iteration)

    def _after_warmup(self, iteration: int) -> float:
        if self.kind == "step":
            return self.lr * self.gamma ** bisect.bisect_right(self.milestones, iteration)
        span = max(1, self.total_iterations - self.warmup_iterations)
        progress = min(1.0, (iteration - self.warmup_iterations) / span)
        return self.lr * 0.5 * (1.0 + math.cos(math.pi * progress))
