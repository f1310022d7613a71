"""The Ray Tune function trainable that runs one trial of a sweep on a worker.

It imports the trial function named in the trial's Ray config (`ablate.train:run_trial` unless a
test names another with the same signature), restores from Ray's latest checkpoint when there is
one, and turns each `report(metrics, checkpoint_dir)` call of the trial into `tune.report`.

A Ray trial that took over the slot of a trial Ray did not restore has no Ray checkpoint. Its
config then names the earlier trial's newest checkpoint (`resume_checkpoint`, chosen by the
driver), and the trial continues from that one.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["CHECKPOINT_MARKER", "checkpoint_epoch", "run_ray_trial", "trial_dirname"]

# Written into each checkpoint directory next to the trainer's files: the epoch it holds.
CHECKPOINT_MARKER = "ablate_sweep_epoch.json"


def _import_function(path: str) -> Callable[..., Any]:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def checkpoint_epoch(directory: str | Path) -> int | None:
    """Return the epoch stored in a checkpoint directory's marker, or None when it has no marker."""
    marker = Path(directory, CHECKPOINT_MARKER)
    if not marker.is_file():
        return None
    try:
        epoch = json.loads(marker.read_text(encoding="utf-8")).get("epoch")
    except (OSError, ValueError):
        # A marker cut short by a killed worker: the checkpoint beside it may be incomplete too.
        return None
    return epoch if isinstance(epoch, int) else None


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
        elif config.get("resume_checkpoint"):
            # Read in place: the folder belongs to a Ray trial that no longer exists, so Ray
            # neither deletes nor rewrites it.
            restore_dir = Path(config["resume_checkpoint"])
        if restore_dir is not None:
            resumed_from_epoch = checkpoint_epoch(restore_dir) or 0

        def report(metrics: dict[str, Any], checkpoint_dir: str | Path | None) -> None:
            metrics = {**metrics, "node_id": node_id, "hostname": hostname, "resumed_from_epoch": resumed_from_epoch}
            if checkpoint_dir is None:
                tune.report(metrics)
                return
            Path(checkpoint_dir, CHECKPOINT_MARKER).write_text(json.dumps({"epoch": metrics.get("epoch")}), encoding="utf-8")
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(str(checkpoint_dir)))

        trial_function(config["trial"], report, restore_from=restore_dir)


def trial_dirname(trial: Any) -> str:
    """Name each trial's Ray folder by its trial id, which is also the results row's key."""
    return trial.trial_id
