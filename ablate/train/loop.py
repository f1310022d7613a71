"""The epoch loop of one trial: SGD, schedule, per-epoch metrics, divergence guard, checkpoints.

The protocol follows He et al. 2016, "Identity Mappings in Deep Residual Networks" (SGD with
momentum, weight decay, step schedule with a constant warm-up; see `ablate.train.config`). The
loop keeps per-iteration overhead low. Loss and error counts are summed on the device and read
back once per epoch, plus one finiteness check every `DIVERGENCE_CHECK_INTERVAL` iterations.

A trial counts as diverged when its mean training loss turns non-finite or exceeds
`TrainConfig.max_train_loss`; its last report then repeats the last finite epoch's curve values.

Determinism: with the same seed, config and thread count, a CPU run repeats bit for bit, and a
run restored from a checkpoint continues exactly as the uninterrupted run would.
NOTE: on CUDA, cuDNN kernel selection and atomics make runs close but not bit-identical.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ablate.data import DeviceLoader, Splits
from ablate.errors import AblateError, ConfigError
from ablate.train.checkpoint import capture_rng_state, load_checkpoint, restore_rng_state, save_checkpoint
from ablate.train.config import TrainConfig
from ablate.train.schedule import LRSchedule

__all__ = ["METRIC_KEYS", "TrialResult", "fit", "parameter_groups", "resolve_device", "seed_everything"]

logger = logging.getLogger(__name__)

Report = Callable[[dict, "Path | None"], None]

# Reading the running loss forces a host-device sync. Doing it once per this many iterations is
# cheap, and it stops a diverged trial long before the end of a CIFAR epoch.
DIVERGENCE_CHECK_INTERVAL = 50

# Metrics that a diverged trial's last report copies from its last finite epoch (NaN if none).
_CURVE_KEYS = ("train_loss", "train_error", "val_loss", "val_error", "test_loss", "test_error")
METRIC_KEYS = (
    "epoch", *_CURVE_KEYS, "lr", "epoch_seconds", "images_per_second", "num_parameters", "macs", "device",
    "status",
)


def _device_name(device: torch.device) -> str:
    """Return `cpu`, or the CUDA device's model name (`cuda: NVIDIA H100 80GB HBM3`)."""
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    return device.type


@dataclass
class TrialResult:
    """The outcome of one trial.

    Attributes:
        status: `completed` or `diverged`.
        epochs_run: Epochs trained, including one that diverged.
        history: Every reported metrics dict, in order (earlier runs' epochs included after a restore).
        final: The last metrics dict.
        num_parameters: Trainable parameters of the model.
        macs: Multiply-accumulates of one forward pass on one image (None when not counted).
        seconds: Wall-clock seconds of this call.
    """

    status: str
    epochs_run: int
    history: list[dict[str, Any]] = field(default_factory=list)
    final: dict[str, Any] = field(default_factory=dict)
    num_parameters: int = 0
    macs: int | None = None
    seconds: float = 0.0


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators (CUDA included)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def resolve_device(name: str) -> torch.device:
    """Turn `auto`, `cpu` or `cuda` into a device.

    Raises:
        ConfigError: When `cuda` is requested and no CUDA device is available.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("CUDA was requested but no CUDA device is available; use auto or cpu", key="train.device")
    return torch.device(name)


def parameter_groups(model: nn.Module, weight_decay: float, no_decay: bool) -> list[dict[str, Any]]:
    """Split parameters into a decayed group and, with `no_decay`, an exempt group.

    Exempt are parameters of normalization layers, every bias, and every parameter whose
    qualified name has a component containing `gate` (the gating units' 1x1 conv and bias).
    """
    decayed, exempt = [], []
    for module_name, module in model.named_modules():
        is_norm = isinstance(module, (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm))
        for param_name, param in module.named_parameters(recurse=False):
            if not param.requires_grad:
                continue
            qualified = f"{module_name}.{param_name}" if module_name else param_name
            is_gate = any("gate" in part for part in qualified.split("."))
            if no_decay and (is_norm or param_name == "bias" or is_gate):
                exempt.append(param)
            else:
                decayed.append(param)
    groups = [{"params": decayed, "weight_decay": weight_decay}]
    if exempt:
        groups.append({"params": exempt, "weight_decay": 0.0})
    return groups


def _check_accelerator_options(config: TrainConfig, device: torch.device) -> None:
    if config.bf16 and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ConfigError("this CUDA device has no bfloat16 support; set train.bf16: false", key="train.bf16")
    if device.type != "cuda" and (config.bf16 or config.compile or config.channels_last):
        logger.warning("channels_last, bf16 and compile are tuned for CUDA; on %s they may run slower", device)


@torch.no_grad()
def evaluate(
    model: nn.Module, forward: Callable, loader: DeviceLoader, autocast: Callable[[], Any]
) -> tuple[float, float]:
    """Return (mean cross-entropy, error in percent) over a split, in eval mode.

    BatchNorm uses its running statistics and leaves them untouched; the model's previous
    train/eval mode is restored afterwards.
    """
    was_training = model.training
    model.eval()
    device = loader.split.images.device
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    wrong = torch.zeros((), dtype=torch.int64, device=device)
    try:
        for images, labels in loader:
            with autocast():
                logits = forward(images)
            logits = logits.float()
            loss_sum += F.cross_entropy(logits, labels, reduction="sum").double()
            wrong += (logits.argmax(1) != labels).sum()
    finally:
        model.train(was_training)
    count = len(loader.split)
    return loss_sum.item() / count, 100.0 * wrong.item() / count


def _diverged_metrics(history: list[dict], epoch: int, lr: float, seconds: float, base: dict) -> dict:
    last = history[-1] if history else None
    metrics = {"epoch": epoch}
    for key in _CURVE_KEYS:
        if key.startswith("val_") and "val_loss" not in base:
            continue
        metrics[key] = last[key] if last else math.nan
    metrics.update(lr=lr, epoch_seconds=seconds, images_per_second=math.nan, **base, status="diverged")
    return metrics


def fit(
    model: nn.Module,
    splits: Splits,
    config: TrainConfig,
    *,
    seed: int,
    report: Report | None = None,
    restore_from: str | Path | None = None,
    macs: int | None = None,
    record: dict[str, Any] | None = None,
) -> TrialResult:
    """Train `model` on `splits` and evaluate it after every epoch.

    The model must already be on the splits' device. Its initial weights are whatever the
    caller built, so seed the global generators before building it for a reproducible trial.

    Args:
        model: The network; trained in place.
        splits: Data from `load_dataset`.
        config: Training settings; None fields are resolved here.
        seed: Seeds the data-order and augmentation generator.
        report: Called as `report(metrics, checkpoint_dir)` after every epoch; `checkpoint_dir`
            is a fresh temporary directory deleted when `report` returns (None for the report of
            a diverged epoch). Without `report`, no checkpoints are written.
        restore_from: A checkpoint directory written by an earlier call with the same settings.
        macs: Multiply-accumulates per image, copied into every report.
        record: Plain-data description of the trial stored in checkpoints; a restore with a
            different record raises.

    Returns:
        The trial's status, history and final metrics.

    Raises:
        ConfigError: On contradictory settings or a batch size larger than the training set.
        AblateError: When `restore_from` is unreadable or was written by another trial.
    """
    started = time.perf_counter()
    device = splits.train.images.device
    config = config.resolve(len(splits.train))
    _check_accelerator_options(config, device)

    # -- data --------------------------------------------------------------------------------
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    common = {"mean": splits.mean, "std": splits.std, "channels_last": config.channels_last}
    train_loader = DeviceLoader(
        splits.train, config.batch_size, train=True, pad=splits.pad, pad_mode=splits.pad_mode,
        flip=splits.flip, generator=generator, **common,
    )
    steps_per_epoch = len(train_loader)
    eval_loaders = {"test": DeviceLoader(splits.test, config.eval_batch_size, **common)}
    if splits.val is not None:
        eval_loaders = {"val": DeviceLoader(splits.val, config.eval_batch_size, **common), **eval_loaders}

    # -- model, optimizer, schedule ------------------------------------------------------------
    if config.channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(
        parameter_groups(model, config.weight_decay, config.no_decay),
        lr=config.lr,
        momentum=config.momentum,
        nesterov=config.nesterov,
    )
    schedule = LRSchedule.from_config(config, steps_per_epoch)
    num_parameters = sum(param.numel() for param in model.parameters() if param.requires_grad)
    base = {"num_parameters": num_parameters, "macs": macs, "device": _device_name(device)}
    record = {"train": config.model_dump(mode="json"), **(record or {})}

    history: list[dict[str, Any]] = []
    start_epoch = 0
    if restore_from is not None:
        state = load_checkpoint(restore_from)
        if state["record"] != record:
            raise AblateError(
                f"checkpoint {restore_from} was written by a trial with other settings; "
                f"restore it with the config that wrote it"
            )
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        restore_rng_state(state["rng"], generator)
        history = list(state["history"])
        start_epoch = state["epoch"]
        logger.info("restored trial from %s at epoch %d", restore_from, start_epoch)

    forward = torch.compile(model) if config.compile else model
    use_bf16 = config.bf16

    def autocast() -> Any:
        if not use_bf16:
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=torch.bfloat16)

    def _diverged(mean_loss: float) -> bool:
        too_large = config.max_train_loss is not None and mean_loss > config.max_train_loss
        return not math.isfinite(mean_loss) or too_large

    # -- epochs --------------------------------------------------------------------------------
    status = "completed" if start_epoch >= config.epochs else "running"
    epoch = start_epoch
    for epoch in range(start_epoch + 1, config.epochs + 1):
        epoch_start = time.perf_counter()
        model.train()
        loss_sum = torch.zeros((), dtype=torch.float32, device=device)
        wrong = torch.zeros((), dtype=torch.int64, device=device)
        iteration = (epoch - 1) * steps_per_epoch
        first_iteration = iteration
        lr = math.nan
        finite = True
        for images, labels in train_loader:
            new_lr = schedule(iteration)
            if new_lr != lr:
                lr = new_lr
                for group in optimizer.param_groups:
                    group["lr"] = lr
            with autocast():
                logits = forward(images)
                loss = F.cross_entropy(logits, labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.detach()
            wrong += (logits.detach().argmax(1) != labels).sum()
            iteration += 1
            if iteration % DIVERGENCE_CHECK_INTERVAL == 0 and _diverged(loss_sum.item() / (iteration - first_iteration)):
                finite = False
                break
        train_loss = loss_sum.item() / steps_per_epoch
        train_seconds = time.perf_counter() - epoch_start

        if not finite or _diverged(train_loss):
            metrics = _diverged_metrics(history, epoch, lr, time.perf_counter() - epoch_start, base)
            logger.warning("trial diverged in epoch %d (training loss non-finite or above %s)", epoch,
                           config.max_train_loss)
            history.append(metrics)
            if report is not None:
                report(dict(metrics), None)
            status = "diverged"
            break

        metrics: dict[str, Any] = {
            "epoch": epoch,
            "train_loss": train_loss,
            "train_error": 100.0 * wrong.item() / (steps_per_epoch * config.batch_size),
        }
        for name, loader in eval_loaders.items():
            metrics[f"{name}_loss"], metrics[f"{name}_error"] = evaluate(model, forward, loader, autocast)
        metrics.update(
            lr=lr,
            epoch_seconds=time.perf_counter() - epoch_start,
            images_per_second=steps_per_epoch * config.batch_size / train_seconds,
            **base,
            status="completed" if epoch == config.epochs else "running",
        )
        history.append(metrics)
        logger.info("epoch %d: %s", epoch, metrics)
        status = metrics["status"]
        if report is not None:
            _report_with_checkpoint(report, metrics, {
                "record": record,
                "epoch": epoch,
                "iteration": iteration,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "schedule": {"iteration": iteration, "lr": lr},
                "rng": capture_rng_state(generator),
                "history": history,
            })

    return TrialResult(
        status=status,
        epochs_run=epoch,
        history=history,
        final=history[-1] if history else {},
        num_parameters=num_parameters,
        macs=macs,
        seconds=time.perf_counter() - started,
    )


def _report_with_checkpoint(report: Report, metrics: dict, state: dict) -> None:
    directory = Path(tempfile.mkdtemp(prefix="ablate-checkpoint-"))
    try:
        save_checkpoint(directory, state)
        report(dict(metrics), directory)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
