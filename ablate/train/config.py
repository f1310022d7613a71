"""`TrainConfig`: optimizer, schedule and device settings of one trial, and the he2016 protocol.

Every optimization field defaults to None, which means "the protocol's value, or the plain
default when no protocol is named". `TrainConfig.resolve(steps_per_epoch)` fills them in, so a
config that went through `model_dump()` and back (as Ray Tune does) keeps its protocol values.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ablate.errors import ConfigError

__all__ = ["HE2016_ITERATIONS", "PROTOCOLS", "TrainConfig"]

# Values used when neither the protocol nor the config sets a field.
_DEFAULTS: dict[str, Any] = {
    "epochs": 30,
    "batch_size": 128,
    "lr": 0.1,
    "momentum": 0.9,
    "nesterov": False,
    "weight_decay": 1e-4,
    "no_decay": False,
    "schedule": "cosine",
    "milestones": [],
    "milestone_unit": "epoch",
    "gamma": 0.1,
    "warmup_iterations": 0,
    "warmup_lr": 0.01,
    "warmup": "constant",
}

# He et al. 2016, "Identity Mappings in Deep Residual Networks", CIFAR protocol: SGD with
# momentum 0.9, weight decay 1e-4, batch 128, lr 0.1 divided by 10 at 32k and 48k iterations,
# stopped at 64k iterations, lr 0.01 for the first 400 iterations.
HE2016_ITERATIONS = 64_000
PROTOCOLS: dict[str, dict[str, Any]] = {
    "he2016": {
        "batch_size": 128,
        "lr": 0.1,
        "momentum": 0.9,
        "nesterov": False,
        "weight_decay": 1e-4,
        "no_decay": False,
        "schedule": "step",
        "milestones": [32_000, 48_000],
        "milestone_unit": "iteration",
        "gamma": 0.1,
        "warmup_iterations": 400,
        "warmup_lr": 0.01,
        "warmup": "constant",
    },
}


class TrainConfig(BaseModel):
    """The `train` section of a trial.

    Fields left at None take the protocol's value, or the default in brackets.

    Attributes:
        protocol: `he2016` or None. `he2016` trains 64k iterations (epochs derived from the
            training-set size: 164 on CIFAR-10). Setting `epochs` scales its iteration milestones
            by the same factor; its 400 warm-up iterations stay as they are.
        epochs: Training epochs [30].
        batch_size: Training batch size [128].
        lr: Peak learning rate [0.1].
        momentum: SGD momentum [0.9].
        nesterov: Nesterov momentum [false].
        weight_decay: L2 weight decay [1e-4].
        no_decay: Exempt normalization parameters, biases and gate parameters from weight decay
            [false].
        schedule: `step` (multiply by `gamma` at each milestone) or `cosine` (to 0 at the end)
            [cosine].
        milestones: Step-schedule milestones [none].
        milestone_unit: Unit of `milestones`, `epoch` or `iteration` [epoch].
        gamma: Step-schedule factor [0.1].
        warmup_iterations: Iterations at the start that use the warm-up learning rate [0].
        warmup_lr: Learning rate during warm-up (the start value for a linear warm-up) [0.01].
        warmup: `constant` (hold `warmup_lr`) or `linear` (ramp from `warmup_lr` to `lr`)
            [constant].
        device: `auto` (CUDA when available), `cpu` or `cuda`.
        channels_last: Channels-last memory format for the model and batches (meant for CUDA).
        bf16: bfloat16 autocast for the forward pass (meant for CUDA; runs on CPU too, slowly).
        compile: Run the model through `torch.compile`.
        eval_batch_size: Batch size for validation and test evaluation.
        max_train_loss: Mean training loss above which the trial counts as diverged, like a
            non-finite loss. With BN, a run at a far too high learning rate often has finite but
            huge losses (1e9 and more on digits at lr 50) instead of overflowing. The default of
            1000 nats is far above the loss of a uniform guess, ln(num_classes). None checks
            finiteness only.
    """

    model_config = ConfigDict(extra="forbid")

    protocol: Literal["he2016"] | None = None
    epochs: int | None = Field(None, ge=1)
    batch_size: int | None = Field(None, ge=1)
    lr: float | None = Field(None, gt=0)
    momentum: float | None = Field(None, ge=0, lt=1)
    nesterov: bool | None = None
    weight_decay: float | None = Field(None, ge=0)
    no_decay: bool | None = None
    schedule: Literal["step", "cosine"] | None = None
    milestones: list[float] | None = None
    milestone_unit: Literal["epoch", "iteration"] | None = None
    gamma: float | None = Field(None, gt=0)
    warmup_iterations: int | None = Field(None, ge=0)
    warmup_lr: float | None = Field(None, ge=0)
    warmup: Literal["constant", "linear"] | None = None
    device: Literal["auto", "cpu", "cuda"] = "auto"
    channels_last: bool = False
    bf16: bool = False
    compile: bool = False
    eval_batch_size: int = Field(500, ge=1)
    max_train_loss: float | None = Field(1000.0, gt=0)

    def resolve(self, num_train_images: int) -> TrainConfig:
        """Return a copy with every None field filled from the protocol or the defaults.

        Args:
            num_train_images: Size of the training split; with the batch size it gives the
                iterations per epoch, which convert the protocol's iteration count into epochs.

        Raises:
            ConfigError: On settings that contradict each other (Nesterov without momentum,
                milestones out of order).
        """
        given = {key: value for key, value in self.model_dump().items() if value is not None}
        values = {**_DEFAULTS, **PROTOCOLS.get(self.protocol or "", {}), **given}
        steps_per_epoch = max(1, num_train_images // values["batch_size"])

        if self.protocol == "he2016":
            if self.epochs is None:
                values["epochs"] = max(1, round(HE2016_ITERATIONS / steps_per_epoch))
            if self.milestones is None:
                # The protocol's milestones are iterations of a 64k-iteration run: scale them to
                # the run's length, and convert them to epochs when the config counts in epochs.
                factor = 1.0 if self.epochs is None else values["epochs"] * steps_per_epoch / HE2016_ITERATIONS
                scaled = [milestone * factor for milestone in PROTOCOLS["he2016"]["milestones"]]
                if values["milestone_unit"] == "epoch":
                    values["milestones"] = [max(1, round(m / steps_per_epoch)) for m in scaled]
                else:
                    values["milestones"] = [round(m) for m in scaled]

        if values["nesterov"] and values["momentum"] <= 0:
            raise ConfigError("Nesterov momentum needs momentum > 0; set train.momentum", key="train.nesterov")
        milestones = values["milestones"]
        if any(m <= 0 for m in milestones) or sorted(milestones) != list(milestones):
            raise ConfigError(
                f"milestones must be positive and ascending, got {milestones}", key="train.milestones"
            )
        return TrainConfig.model_validate(values)
