"""A fast synthetic trial function with `run_trial`'s signature, for the sweep engine's tests.

It reports per-epoch metrics whose test error depends on the unit and the seed, checkpoints each
epoch into a fresh directory, and continues from `restore_from`. Units `fail` and `nan` raise an
error and diverge. Ray workers import it by module name, so the tests put this folder on
PYTHONPATH before Ray starts.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

# Base test error of each toy unit: well separated so that the median pruner has a clear order.
UNIT_ERRORS = {"a": 10.0, "b": 20.0, "c": 30.0, "d": 40.0, "e": 50.0, "fail": 5.0, "nan": 5.0}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ToyModel(_Strict):
    unit: str = "a"
    depth: int = 8


class ToyTrain(_Strict):
    epochs: int = 3
    lr: float = 0.1
    sleep: float = 0.05


class ToyTrial(_Strict):
    data: dict = {}
    model: ToyModel = ToyModel()
    train: ToyTrain = ToyTrain()
    seed: int = 0


def validate_toy(config: dict, loaded: Any, prefix: str) -> ToyTrial:
    from ablate.yamlio import validate_section

    return validate_section(ToyTrial, config, loaded)


def toy_trial(config: dict, report=None, *, restore_from=None) -> dict:
    trial = ToyTrial.model_validate(config)
    start = 0
    if restore_from is not None:
        start = json.loads(Path(restore_from, "state.json").read_text())["epoch"]
    base = UNIT_ERRORS.get(trial.model.unit, 60.0) + trial.seed * 0.5
    last = {}
    for epoch in range(start + 1, trial.train.epochs + 1):
        time.sleep(trial.train.sleep)
        if trial.model.unit == "fail" and epoch == 2:
            raise RuntimeError("toy failure at epoch 2")
        loss = math.nan if trial.model.unit == "nan" and epoch == 2 else 1.0 / epoch
        status = "running" if epoch < trial.train.epochs else "completed"
        if not math.isfinite(loss):
            status = "diverged"
        error = base / epoch if math.isfinite(loss) else last.get("test_error", math.nan)
        last = {
            "epoch": epoch, "train_loss": loss, "train_error": error, "test_loss": loss,
            "test_error": error, "lr": trial.train.lr, "epoch_seconds": trial.train.sleep,
            "num_parameters": 100 * trial.model.depth, "macs": 1000, "status": status,
        }
        directory = Path(tempfile.mkdtemp(prefix="toy-ckpt-"))
        (directory / "state.json").write_text(json.dumps({"epoch": epoch}))
        if report is not None:
            report(dict(last), directory)
        shutil.rmtree(directory, ignore_errors=True)
        if status == "diverged":
            break
    return last
