"""The Ray Tune function trainable that runs one trial of a sweep on a worker.

It imports the trial function named in the trial's Ray config (`ablate.train:run_trial` unless a
test names another with the same signature), restores from Ray's latest checkpoint when there is
one, and turns each `report(metrics, checkpoint_dir)` call of the trial into `tune.report`.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["CHECKPOINT_MARKER", "run_ray_trial", "trial_dirname"]

# Written into each checkpoint directory next to the trainer's files: the epoch it holds.
CHECKPOINT_MARKER = "ablate_sweep_epoch.json"


def _import_function(path: str) -> Callable[..., Any]:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def run_ray_trial(config: dict[str, Any]) -> None:
    """Run the trial described by `config` (built by `OptunaSearcher`) inside Ray Tune."""
    import ray
    from ray import tune

    trial_function = _import_function(config["trial_function"])
    node_id = ray.get_runtime_context().get_node_id()
    hostname = socket.gethostname()
    checkpoint = tune.get_checkpoint()

    with contextlib.ExitStack() as stack:
        restore_dir = None
        resumed_from_epoch = 0
        if checkpoint is not None:
            restore_dir = Path(stack.enter_context(checkpoint.as_directory()))
            marker = restore_dir / CHECKPOINT_MARKER
            if marker.exists():
                resumed_from_epoch = int(json.loads(marker.read_text())["epoch"])

        def report(metrics: dict[str, Any], checkpoint_dir: str | Path | None) -> None:
            metrics = {**metrics, "node_id": node_id, "hostname": hostname, "resumed_from_epoch": resumed_from_epoch}
            if checkpoint_dir is None:
                tune.report(metrics)
                return
            Path(checkpoint_dir, CHECKPOINT_MARKER).write_text(json.dumps({"epoch": metrics.get("epoch")}))
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(str(checkpoint_dir)))

        trial_function(config["trial"], report, restore_from=restore_dir)


def trial_dirname(trial: Any) -> str:
    """Name each trial's Ray folder by its trial id, which is also the results row's key."""
    return trial.trial_id
