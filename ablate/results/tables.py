"""The results directory of a sweep: writing and reading `trials.parquet` and `epochs.parquet`.

A sweep calls `ResultsWriter.record_trial` once per finished trial. Each call rewrites both tables
atomically (write a temporary file in the same folder, then `os.replace`), so a sweep killed at any
moment leaves tables that hold every trial finished so far and never a half-written file.
`epochs.parquet` is replaced before `trials.parquet`, so every trial listed in `trials.parquet` has
its epochs on disk.

`load_results` reads a results directory back into a `Results` object (pandas tables, the resolved
config, per-variant statistics and paired comparisons). This module never imports torch or ray.
"""

from __future__ import annotations

import functools
import importlib.metadata
import logging
import os
import socket
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ablate.atomic import write_atomically
from ablate.errors import AblateError

__all__ = [
    "EPOCHS_FILE",
    "TRIALS_FILE",
    "TRIAL_STATUSES",
    "ResultsWriter",
    "provenance",
    "read_tables",
]

logger = logging.getLogger(__name__)

TRIALS_FILE = "trials.parquet"
EPOCHS_FILE = "epochs.parquet"
CONFIG_FILE = "config.yaml"
TRIAL_STATUSES = ("completed", "pruned", "diverged", "error")


# --- provenance -----------------------------------------------------------------------------


def _package_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


@functools.lru_cache(maxsize=1)
def _git_revision() -> str | None:
    """Return the commit of the checkout that contains this package, `+dirty` when it has changes."""
    source_dir = Path(__file__).resolve().parent
    try:
        revision = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=source_dir, capture_output=True, text=True, timeout=5
        )
        if revision.returncode != 0:
            return None
        changes = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=source_dir, capture_output=True, text=True, timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    dirty = "+dirty" if changes.returncode == 0 and changes.stdout.strip() else ""
    return revision.stdout.strip() + dirty


def provenance(device: str | None = None) -> dict[str, str | None]:
    """Return the provenance columns of a trial row.

    Library versions come from installed package metadata, so torch, ray and optuna are not
    imported. The git revision is None when the package does not run from a git checkout.

    Args:
        device: The device the trial ran on (e.g. "cuda:0", "cpu"), as the caller knows it.

    Returns:
        A dict with `ablate_version`, `git_revision`, `torch_version`, `ray_version`,
        `optuna_version`, `device` and `hostname`.
    """
    from ablate import __version__

    return {
        "ablate_version": __version__,
        "git_revision": _git_revision(),
        "torch_version": _package_version("torch"),
        "ray_version": _package_version("ray"),
        "optuna_version": _package_version("optuna"),
        "device": device,
        "hostname": socket.gethostname(),
    }


# --- writing --------------------------------------------------------------------------------


def _harmonize_object_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Turn object columns that mix value types (e.g. 3 and "3") into text, which parquet accepts."""
    for column in frame.columns:
        if frame[column].dtype != object:
            continue
        types = {type(value) for value in frame[column] if value is not None and value == value}
        if len(types) > 1 and not types <= {int, float, bool}:
            frame[column] = [None if v is None or v != v else str(v) for v in frame[column]]
    return frame


def _write_atomically(frame: pd.DataFrame, path: Path) -> None:
    write_atomically(path, lambda temporary: frame.to_parquet(temporary, index=False))


class ResultsWriter:
    """Upserts finished trials into the results directory of one sweep.

    Existing tables are read when the writer is created, so a resumed sweep keeps its earlier
    rows. Only one writer (the sweep driver) may write a directory at a time.

    Args:
        results_dir: The sweep's results directory; created when missing.
    """

    def __init__(self, results_dir: str | Path):
        self.results_dir = Path(results_dir)
        self.results_dir.mkdir(parents=True, exist_ok=True)
        self._trials: dict[str, dict[str, Any]] = {}
        # Epochs are kept as one frame per trial, so a rewrite concatenates frames instead of
        # rebuilding every row.
        self._epochs: dict[str, pd.DataFrame] = {}
        trials_path = self.results_dir / TRIALS_FILE
        if trials_path.exists():
            trials, epochs = read_tables(self.results_dir)
            for row in trials.to_dict("records"):
                self._trials[str(row["trial_id"])] = row
            for trial_id, group in epochs.groupby("trial_id", sort=False):
                self._epochs[str(trial_id)] = group.reset_index(drop=True)

    @property
    def trial_ids(self) -> list[str]:
        """Ids of the trials recorded so far, in the order they were first recorded."""
        return list(self._trials)

    def record_trial(self, row: Mapping[str, Any], epochs: Sequence[Mapping[str, Any]]) -> None:
        """Insert or replace one trial and rewrite both tables atomically.

        Args:
            row: The trial's columns; must contain `trial_id` and `status`. Unknown columns are
                kept as they are.
            epochs: One metrics dict per epoch (the trainer's report keys); a `trial_id` key, when
                present, is overwritten with the row's id.

        Raises:
            AblateError: When `trial_id` is missing or `status` is not a known trial status.
        """
        if "trial_id" not in row or row["trial_id"] is None:
            raise AblateError(f"trial row has no trial_id (columns: {sorted(row)}); add one")
        status = row.get("status")
        if status not in TRIAL_STATUSES:
            raise AblateError(
                f"trial {row['trial_id']}: invalid status {status!r}; expected one of "
                f"{', '.join(TRIAL_STATUSES)}"
            )
        trial_id = str(row["trial_id"])
        self._trials[trial_id] = {**dict(row), "trial_id": trial_id}
        frame = pd.DataFrame([dict(e) for e in epochs])
        self._epochs[trial_id] = frame.assign(trial_id=trial_id) if len(frame) else frame
        self._write()
        logger.debug("recorded trial %s (%s) in %s", trial_id, status, self.results_dir)

    def _write(self) -> None:
        frames = [frame for frame in self._epochs.values() if len(frame)]
        if frames:
            epochs = pd.concat(frames, ignore_index=True)
            epochs = epochs[["trial_id", *[c for c in epochs.columns if c != "trial_id"]]]
        else:
            epochs = pd.DataFrame({"trial_id": []}, dtype=object)
        trials = pd.DataFrame(list(self._trials.values()))
        _write_atomically(_harmonize_object_columns(epochs), self.results_dir / EPOCHS_FILE)
        _write_atomically(_harmonize_object_columns(trials), self.results_dir / TRIALS_FILE)


# --- reading --------------------------------------------------------------------------------


def read_tables(results_dir: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read `trials.parquet` and `epochs.parquet` of a results directory.

    Epoch rows of trials that `trials.parquet` does not list are dropped. A missing
    `epochs.parquet` gives an empty epochs table.

    Raises:
        AblateError: When the directory or its `trials.parquet` is missing or unreadable.
    """
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise AblateError(f"results directory not found: {results_dir}")
    trials_path = results_dir / TRIALS_FILE
    if not trials_path.exists():
        raise AblateError(
            f"no {TRIALS_FILE} in {results_dir}: no trial of this sweep has finished yet, "
            "or this is not a sweep's results directory"
        )
    try:
        trials = pd.read_parquet(trials_path)
    except Exception as exc:  # pyarrow raises several unrelated types for a damaged file
        raise AblateError(f"cannot read {trials_path}: {exc}") from exc
    trials["trial_id"] = trials["trial_id"].astype(str)

    epochs_path = results_dir / EPOCHS_FILE
    if epochs_path.exists():
        try:
            epochs = pd.read_parquet(epochs_path)
        except Exception as exc:
            raise AblateError(f"cannot read {epochs_path}: {exc}") from exc
        epochs["trial_id"] = epochs["trial_id"].astype(str)
        epochs = epochs[epochs["trial_id"].isin(set(trials["trial_id"]))].reset_index(drop=True)
    else:
        epochs = pd.DataFrame({"trial_id": pd.Series([], dtype=str), "epoch": pd.Series([], dtype=int)})
    return trials, epochs
