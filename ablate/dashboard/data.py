"""Data extraction for the dashboard: pure pandas functions, one per view, without plotting.

Each function turns the results tables into the numbers one figure or table draws, so the
numbers can be tested without a browser. Non-finite metric values (NaN from a diverged epoch,
infinities) become NaN here, and the drawing step turns NaN into gaps.
"""

from __future__ import annotations

import json
import logging
import math
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ablate.dashboard.paper import paper_value
from ablate.errors import AblateError
from ablate.results.stats import param_columns, variant_labels

__all__ = [
    "PROBE_FILE",
    "PROBE_PROFILE_KEYS",
    "PROBE_SCALAR_COLUMNS",
    "SEARCH_KINDS",
    "curve_data",
    "distribution_data",
    "header_data",
    "importance_data",
    "leaderboard_data",
    "paper_overlay_data",
    "parallel_coordinates_data",
    "probe_profile_data",
    "probe_scalar_data",
    "pruning_data",
    "searched_dimensions",
]

logger = logging.getLogger(__name__)

SEARCH_KINDS = ("grid", "choice", "uniform", "loguniform", "int")
NON_GRID_KINDS = ("choice", "uniform", "loguniform", "int")
PROBE_SCALAR_COLUMNS = ("probe_coherence", "probe_spread", "probe_growth")

PROBE_FILE = "probe.json"
"""Per-unit probe profiles in a results directory, written by the probe.

Format: a JSON object mapping a variant label (the `variant` column of `trials.parquet`) to an
object with the keys of `PROBE_PROFILE_KEYS`. Each key maps to one list per probe seed, and each of
those one number per residual unit, input side first::

    {"unit=bn-relu-conv-bn-relu-conv + id, depth=110":
        {"gradient_rms": [[0.91, 0.88, ...], [0.93, 0.87, ...]],
         "coherence": [[...], [...]], "activation_rms": [[...], [...]]}}

A missing key or an empty list means that quantity was not measured for that variant.
"""
PROBE_PROFILE_KEYS = ("gradient_rms", "activation_rms", "coherence")


def _finite(values: pd.Series) -> pd.Series:
    numbers = pd.to_numeric(values, errors="coerce").astype(float)
    return numbers.where(np.isfinite(numbers))


def _unique_text(trials: pd.DataFrame, column: str) -> list[str]:
    if column not in trials.columns:
        return []
    return sorted({str(v) for v in trials[column].dropna()})


# --- header and leaderboard -----------------------------------------------------------------


def header_data(trials: pd.DataFrame, config: Mapping[str, Any], name: str) -> dict[str, Any]:
    """Return the header facts: name, description, dates, versions, machines, statuses, compute."""
    statuses = trials["status"].value_counts()
    seconds = _finite(trials["seconds"]).sum() if "seconds" in trials.columns else math.nan
    return {
        "name": name,
        "description": str(config.get("description") or ""),
        "reference": config.get("reference"),
        "started": min(_unique_text(trials, "started_at"), default=None),
        "finished": max(_unique_text(trials, "finished_at"), default=None),
        "versions": {
            label: _unique_text(trials, column)
            for label, column in (("ablate", "ablate_version"), ("git", "git_revision"),
                                  ("torch", "torch_version"), ("ray", "ray_version"),
                                  ("optuna", "optuna_version"))
        },
        "hostnames": _unique_text(trials, "hostname"),
        "devices": _unique_text(trials, "device"),
        "status_counts": {s: int(statuses.get(s, 0)) for s in ("completed", "pruned", "diverged", "error")},
        "n_trials": int(len(trials)),
        "compute_hours": float(seconds) / 3600.0,
    }


def leaderboard_data(
    summary: pd.DataFrame,
    comparison: pd.DataFrame | None,
    paper: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Join per-variant statistics with the paired comparison and the paper's values.

    Args:
        summary: `summarize_variants` output, best first.
        comparison: `compare_variants` output against the baseline, or None.
        paper: `paper_overlay_data` output, or None.

    Returns:
        The summary in the same order, with a 1-based `rank` and, when given, the comparison
        columns (`mean_diff`, `diff_ci_low`, `diff_ci_high`, `p_value`, `note`, `n_pairs`) and
        `paper_value`.
    """
    board = summary.copy()
    board.insert(0, "rank", range(1, len(board) + 1))
    if comparison is not None and not comparison.empty:
        board = board.merge(comparison.drop(columns="baseline"), on="variant", how="left")
    if paper is not None and not paper.empty:
        board = board.merge(paper[["variant", "paper_value"]], on="variant", how="left")
    return board


# --- distributions and curves ---------------------------------------------------------------


def distribution_data(trials: pd.DataFrame, order: list[str]) -> list[dict[str, Any]]:
    """Return the objective of every completed trial per variant, in `order`.

    Each item has `variant`, `seeds`, `values` and `trial_ids`; trials with a non-finite
    objective are left out, as in the statistics.
    """
    frame = trials.assign(variant=variant_labels(trials), objective=_finite(trials["objective"]))
    frame = frame[(frame["status"] == "completed") & frame["objective"].notna()]
    groups = dict(tuple(frame.groupby("variant", sort=False)))
    items = []
    for variant in order:
        group = groups.get(variant)
        if group is None:
            continue
        group = group.sort_values("seed") if "seed" in group.columns else group
        items.append({
            "variant": variant,
            "seeds": group["seed"].tolist() if "seed" in group.columns else [None] * len(group),
            "values": group["objective"].tolist(),
            "trial_ids": group["trial_id"].tolist(),
        })
    return items


def curve_data(trials: pd.DataFrame, epochs: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Return the per-variant median, min and max of one metric at every epoch.

    Trials of every status but `error` contribute the epochs they ran. At each epoch the
    statistics are over the trials whose value there is finite. An epoch where none is finite
    has NaN statistics, drawn as a gap in the line. Each variant has a row for every epoch from 1
    to its last, so a missing epoch is a gap rather than a bridge.

    Returns:
        Columns `variant`, `epoch`, `median`, `min`, `max`, `n` (finite values at that epoch).
        Empty when the epochs table lacks the metric.
    """
    columns = ["variant", "epoch", "median", "min", "max", "n"]
    if metric not in epochs.columns or "epoch" not in epochs.columns or epochs.empty:
        return pd.DataFrame(columns=columns)
    labels = trials.assign(variant=variant_labels(trials))
    labels = labels.loc[labels["status"] != "error", ["trial_id", "variant"]]
    frame = epochs[["trial_id", "epoch", metric]].merge(labels, on="trial_id")
    frame = frame.assign(value=_finite(frame[metric]), epoch=frame["epoch"].astype(int))
    stats = frame.groupby(["variant", "epoch"], sort=False)["value"].agg(["median", "min", "max", "count"])
    stats = stats.rename(columns={"count": "n"}).reset_index()

    parts = []
    for variant, group in stats.groupby("variant", sort=False):
        full = pd.DataFrame({"epoch": range(1, int(group["epoch"].max()) + 1)})
        part = full.merge(group.drop(columns="variant"), on="epoch", how="left")
        parts.append(part.assign(variant=variant, n=part["n"].fillna(0).astype(int)))
    if not parts:
        return pd.DataFrame(columns=columns)
    return pd.concat(parts, ignore_index=True)[columns]


def pruning_data(trials: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    """Return one row per trial with the epochs it ran and its status, grouped by variant in `order`.

    Columns: `trial_id`, `variant`, `seed`, `status`, `epochs_run`, `max_epochs`, `objective`.
    """
    frame = trials.assign(variant=variant_labels(trials))
    rank = {variant: i for i, variant in enumerate(order)}
    frame = frame.assign(_rank=frame["variant"].map(rank).fillna(len(rank)))
    sort_keys = ["_rank", "seed"] if "seed" in frame.columns else ["_rank"]
    frame = frame.sort_values([*sort_keys, "trial_id"])
    columns = [c for c in ("trial_id", "variant", "seed", "status", "epochs_run", "max_epochs", "objective")
               if c in frame.columns]
    out = frame[columns].reset_index(drop=True)
    out["objective"] = _finite(out["objective"])
    return out


# --- hyperparameters ------------------------------------------------------------------------


def searched_dimensions(config: Mapping[str, Any]) -> dict[str, str]:
    """Return the search dimensions of a sweep config as {dotted key: kind}.

    A dimension is a mapping with exactly one key among `SEARCH_KINDS` on any leaf of the
    `data`, `model` and `train` sections.
    """
    found: dict[str, str] = {}

    def walk(node: Any, prefix: str) -> None:
        if not isinstance(node, Mapping):
            return
        if len(node) == 1 and next(iter(node)) in SEARCH_KINDS:
            found[prefix] = next(iter(node))
            return
        for key, value in node.items():
            walk(value, f"{prefix}.{key}")

    for section in ("data", "model", "train"):
        walk(config.get(section), section)
    return found


def parallel_coordinates_data(trials: pd.DataFrame) -> pd.DataFrame | None:
    """Return the `param.*` values and objective of completed trials, for parallel coordinates.

    Numeric parameters stay numbers. Text parameters become integer codes in a column of the
    same name; `attrs["categories"]` maps that column to its labels in code order. None when
    there is no completed trial or no parameter column.
    """
    params = param_columns(trials)
    objective = _finite(trials["objective"])
    frame = trials.loc[(trials["status"] == "completed") & objective.notna(), params].copy()
    if frame.empty or not params:
        return None
    frame["objective"] = objective[frame.index]
    categories: dict[str, list[str]] = {}
    for column in params:
        numbers = pd.to_numeric(frame[column], errors="coerce")
        if numbers.notna().all() and frame[column].map(lambda v: not isinstance(v, bool)).all():
            frame[column] = numbers.astype(float)
            continue
        labels = sorted({str(v) for v in frame[column]})
        categories[column] = labels
        frame[column] = frame[column].map(lambda v: labels.index(str(v))).astype(int)
    frame = frame.reset_index(drop=True)
    frame.attrs["categories"] = categories
    return frame


def importance_data(results_dir: Path, study_name: str | None = None) -> tuple[dict[str, float] | None, str | None]:
    """Return Optuna's fANOVA parameter importances of the sweep's study in `study.db`.

    Optuna is imported only here. The evaluator is seeded, so a page rebuilt from the same
    study shows the same importances.

    Returns:
        (importances, None), or (None, note) saying why there are none: no study, fewer than
        two completed trials, or the evaluator's own error message.
    """
    path = Path(results_dir) / "study.db"
    if not path.exists():
        return None, "no Optuna study (study.db) in the results directory"
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = f"sqlite:///{path}"
    try:
        names = optuna.study.get_all_study_names(storage=storage)
    except Exception as exc:  # SQLAlchemy raises its own error types for a damaged database
        return None, f"cannot read the study in study.db: {exc}"
    if not names:
        return None, "study.db contains no study"
    name = study_name if study_name in names else names[0]
    study = optuna.load_study(study_name=name, storage=storage)
    completed = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if len(completed) < 2:
        return None, f"{len(completed)} completed trial(s) in the study; importance needs at least 2"
    try:
        evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
        importances = optuna.importance.get_param_importances(study, evaluator=evaluator)
    except (ValueError, RuntimeError) as exc:
        return None, f"Optuna could not compute importances: {exc}"
    return {key: float(value) for key, value in importances.items()}, None


# --- paper overlay and probe ----------------------------------------------------------------


def paper_overlay_data(
    trials: pd.DataFrame, summary: pd.DataFrame, reference: str | None, dataset: str | None
) -> pd.DataFrame:
    """Return the measured median beside the paper's value for every variant the paper reports.

    The dataset is the trial's `param.data.dataset` when the sweep searches it, else `dataset`
    (the config's `data.dataset`).

    Returns:
        Columns `variant`, `preset`, `depth`, `dataset`, `median`, `min`, `max`, `paper_value`
        (`FAIL` = inf for a run the paper reports as failing). Empty without a known reference.
    """
    columns = ["variant", "preset", "depth", "dataset", "median", "min", "max", "paper_value"]
    if not reference or summary.empty or "preset" not in summary.columns or "depth" not in summary.columns:
        return pd.DataFrame(columns=columns)
    datasets: dict[str, str | None] = {}
    if "param.data.dataset" in trials.columns:
        labels = variant_labels(trials)
        datasets = dict(zip(labels, trials["param.data.dataset"].astype(str)))
    rows = []
    for record in summary.to_dict("records"):
        variant_dataset = datasets.get(record["variant"], dataset)
        value = paper_value(reference, variant_dataset, record.get("preset"), record.get("depth"))
        if value is None:
            continue
        rows.append({"variant": record["variant"], "preset": record["preset"], "depth": record["depth"],
                     "dataset": variant_dataset, "median": record["median"], "min": record["min"],
                     "max": record["max"], "paper_value": value})
    return pd.DataFrame(rows, columns=columns)


def probe_scalar_data(trials: pd.DataFrame, order: list[str]) -> pd.DataFrame | None:
    """Return the median of each `probe_*` column per variant in `order`, or None without any."""
    columns = [c for c in trials.columns if c.startswith("probe_")]
    if not columns:
        return None
    frame = trials.assign(variant=variant_labels(trials))
    values = frame[columns].apply(_finite)
    medians = values.groupby(frame["variant"]).median()
    medians = medians.reindex([v for v in order if v in medians.index])
    return medians.reset_index()


def probe_profile_data(results_dir: Path, order: list[str]) -> dict[str, pd.DataFrame] | None:
    """Read `probe.json` and return, per quantity, the median, min and max over seeds per unit.

    Returns:
        {quantity: DataFrame with columns `variant`, `unit`, `median`, `min`, `max`} for the
        quantities present, variants in `order` first; None when there is no `probe.json`.

    Raises:
        AblateError: When `probe.json` is not in the documented format.
    """
    path = Path(results_dir) / PROBE_FILE
    if not path.exists():
        return None
    try:
        profiles = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AblateError(f"cannot read {path}: {exc}") from exc
    if not isinstance(profiles, dict):
        raise AblateError(f"{path} must contain an object keyed by variant label")
    ranked = [v for v in order if v in profiles] + sorted(v for v in profiles if v not in order)
    out: dict[str, pd.DataFrame] = {}
    for key in PROBE_PROFILE_KEYS:
        parts = []
        for variant in ranked:
            per_seed = (profiles[variant] or {}).get(key) if isinstance(profiles[variant], dict) else None
            if not per_seed:
                continue
            try:
                matrix = np.array(per_seed, dtype=float)
            except ValueError as exc:
                raise AblateError(
                    f"{path}: {variant!r} {key} must be a list of equal-length number lists, one per seed"
                ) from exc
            matrix = np.atleast_2d(np.where(np.isfinite(matrix), matrix, np.nan))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN units give NaN
                parts.append(pd.DataFrame({
                    "variant": variant, "unit": np.arange(1, matrix.shape[1] + 1),
                    "median": np.nanmedian(matrix, axis=0), "min": np.nanmin(matrix, axis=0),
                    "max": np.nanmax(matrix, axis=0),
                }))
        if parts:
            out[key] = pd.concat(parts, ignore_index=True)
    return out

