"""The `trials.parquet` row and `epochs.parquet` rows of one finished sweep trial.

Columns follow the results tables of `ablate.results`: identity (trial id, unit canonical text,
preset, seed, variant, `param.<dotted key>` per searched key), outcome (status, epochs, objective,
final and best metrics), cost (parameters, MACs, seconds), error text and provenance.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["RAY_RESULT_KEYS", "build_row", "epoch_rows", "unit_identity", "variant_label"]

# Keys Ray Tune adds to every reported result; they are not trainer metrics.
RAY_RESULT_KEYS = frozenset(
    {
        "timestamp", "checkpoint_dir_name", "should_checkpoint", "done", "training_iteration",
        "trial_id", "date", "time_this_iter_s", "time_total_s", "pid", "node_ip", "config",
        "time_since_restore", "iterations_since_restore", "experiment_tag",
    }
)


def epoch_rows(reports: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Return one row per epoch from a trial's reports; a re-run epoch keeps its latest report."""
    by_epoch: dict[Any, dict[str, Any]] = {}
    for report in reports:
        by_epoch[report.get("epoch")] = {k: v for k, v in report.items() if k not in RAY_RESULT_KEYS}
    return [by_epoch[epoch] for epoch in sorted(by_epoch, key=lambda e: (e is None, e or 0))]


def unit_identity(model: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """Return `(canonical unit text, preset name or None)` of a trial's model settings."""
    unit = model.get("unit")
    if unit is None:
        return None, None
    from ablate.errors import AblateError
    from ablate.grammar import resolve_unit

    try:
        spec, preset = resolve_unit(str(unit), block=model.get("block", "basic"))
    except AblateError:
        # Only a trial function other than ablate's trainer accepts units outside the grammar.
        return str(unit), None
    return str(spec), preset


def variant_label(params: Mapping[str, Any]) -> str:
    """Return a stable label of every searched value but the seed (`model.unit=...; train.lr=...`)."""
    parts = [f"{key}={params[key]}" for key in sorted(params) if key != "seed"]
    return "; ".join(parts) or "base"


def _finite(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def _best(epochs: Sequence[Mapping[str, Any]], key: str) -> float | None:
    values = [v for v in (_finite(e.get(key)) for e in epochs) if v is not None]
    return min(values) if values else None


def build_row(
    *,
    trial_id: str,
    status: str,
    config: Mapping[str, Any],
    epochs: Sequence[Mapping[str, Any]],
    objective_metric: str,
    max_epochs: int | None,
    error: str | None,
    started_at: str | None,
    finished_at: str | None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Build one `trials.parquet` row.

    Args:
        trial_id: The Ray trial id.
        status: `completed`, `pruned`, `diverged` or `error`.
        config: The trial's Ray config (`trial`, `params`, `slot`, `optuna_trial`).
        epochs: The trial's epoch rows (see `epoch_rows`).
        objective_metric: The sweep's objective metric.
        max_epochs: Epochs the trial was planned to run.
        error: The error or divergence reason, None when there is none.
        started_at: ISO 8601 start time.
        finished_at: ISO 8601 finish time.
        extra: More columns, such as probe values.
    """
    from ablate.results import provenance

    trial = config["trial"]
    model = trial.get("model", {})
    params = {"seed": trial.get("seed"), **config.get("params", {})}
    unit, preset = unit_identity(model)
    last = epochs[-1] if epochs else {}
    # A diverged trial's last report may carry NaN; its objective is the last finite value.
    objective = _finite(last.get(objective_metric))

    row: dict[str, Any] = {
        "trial_id": trial_id,
        "status": status,
        "seed": trial.get("seed"),
        "unit": unit,
        "preset": preset,
        "block": model.get("block", "basic"),
        "depth": model.get("depth"),
        "variant": variant_label(params),
        **{f"param.{key}": value for key, value in config.get("params", {}).items()},
        "epochs_run": max((int(e["epoch"]) for e in epochs if isinstance(e.get("epoch"), int)), default=0),
        "max_epochs": max_epochs,
        "objective": objective,
        "objective_metric": objective_metric,
        "final_test_error": _finite(last.get("test_error")),
        "best_test_error": _best(epochs, "test_error"),
        "final_test_loss": _finite(last.get("test_loss")),
        "final_train_loss": _finite(last.get("train_loss")),
        "final_train_error": _finite(last.get("train_error")),
        "final_val_error": _finite(last.get("val_error")),
        "num_parameters": last.get("num_parameters"),
        "macs": last.get("macs"),
        "seconds": sum(_finite(e.get("epoch_seconds")) or 0.0 for e in epochs),
        "error": error,
        **provenance(last.get("device") or trial.get("train", {}).get("device")),
        "started_at": started_at,
        "finished_at": finished_at,
        "node_id": last.get("node_id"),
        "slot": config.get("slot"),
        "optuna_trial": config.get("optuna_trial"),
    }
    if last.get("hostname"):
        row["hostname"] = last["hostname"]
    row.update(extra or {})
    return row
