"""Tests of the dashboard's data extraction (pure pandas, no plotting)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ablate.dashboard import data
from ablate.dashboard.paper import FAIL
from ablate.errors import AblateError
from ablate.results import summarize_variants


def _trials() -> pd.DataFrame:
    return pd.DataFrame([
        {"trial_id": "v0", "variant": "V", "preset": "original", "depth": 110, "seed": 0, "status": "completed",
         "objective": 6.0, "epochs_run": 3, "param.model.unit": "u1", "param.train.lr": 0.1},
        {"trial_id": "v1", "variant": "V", "preset": "original", "depth": 110, "seed": 1, "status": "completed",
         "objective": 8.0, "epochs_run": 3, "param.model.unit": "u1", "param.train.lr": 0.2},
        {"trial_id": "w0", "variant": "W", "preset": "full_preactivation", "depth": 110, "seed": 0,
         "status": "diverged", "objective": math.nan, "epochs_run": 3, "param.model.unit": "u2", "param.train.lr": 0.3},
        {"trial_id": "w1", "variant": "W", "preset": "full_preactivation", "depth": 110, "seed": 1,
         "status": "pruned", "objective": 9.0, "epochs_run": 1, "param.model.unit": "u2", "param.train.lr": 0.05},
        {"trial_id": "x0", "variant": "X", "preset": None, "depth": 110, "seed": 0, "status": "error",
         "objective": None, "epochs_run": 0, "param.model.unit": "u3", "param.train.lr": 0.1},
    ])


def _epochs() -> pd.DataFrame:
    rows = [("v0", 1, 30.0), ("v0", 2, 20.0), ("v0", 3, 10.0),
            ("v1", 1, 50.0), ("v1", 2, 40.0), ("v1", 3, 12.0),
            ("w0", 1, 60.0), ("w0", 2, math.inf), ("w0", 3, 15.0),
            ("w1", 1, 70.0),
            ("x0", 1, 99.0)]
    return pd.DataFrame(rows, columns=["trial_id", "epoch", "test_error"])


def test_curve_data_median_min_max():
    curves = data.curve_data(_trials(), _epochs(), "test_error").set_index(["variant", "epoch"])
    assert curves.loc[("V", 1)].tolist() == [40.0, 30.0, 50.0, 2]
    assert curves.loc[("V", 3)].tolist() == [11.0, 10.0, 12.0, 2]


def test_curve_data_non_finite_epoch_is_gap():
    curves = data.curve_data(_trials(), _epochs(), "test_error").set_index(["variant", "epoch"])
    assert curves.loc[("W", 1), "median"] == 65.0
    assert math.isnan(curves.loc[("W", 2), "median"])
    assert curves.loc[("W", 2), "n"] == 0
    assert curves.loc[("W", 3), "median"] == 15.0


def test_curve_data_missing_epoch_is_gap_and_error_trials_skipped():
    epochs = _epochs()
    epochs = epochs[~((epochs["trial_id"].isin(["v0", "v1"])) & (epochs["epoch"] == 2))]
    curves = data.curve_data(_trials(), epochs, "test_error")
    v = curves[curves["variant"] == "V"]
    assert v["epoch"].tolist() == [1, 2, 3]
    assert math.isnan(v["median"].iloc[1])
    assert "X" not in set(curves["variant"])


def test_curve_data_unknown_metric_empty():
    assert data.curve_data(_trials(), _epochs(), "val_error").empty


def test_distribution_data_completed_only_in_order():
    items = data.distribution_data(_trials(), ["W", "V", "X"])
    assert [item["variant"] for item in items] == ["V"]
    assert items[0]["values"] == [6.0, 8.0]
    assert items[0]["seeds"] == [0, 1]


def test_pruning_data_grouped_in_order():
    frame = data.pruning_data(_trials(), ["W", "V"])
    assert frame["trial_id"].tolist() == ["w0", "w1", "v0", "v1", "x0"]
    assert frame["epochs_run"].tolist() == [3, 1, 3, 3, 0]


def test_searched_dimensions():
    config = {"name": "s", "model": {"unit": {"grid": ["a", "b"]}, "depth": 20},
              "train": {"lr": {"loguniform": [0.01, 0.3]}, "epochs": 5, "sched": {"gamma": {"uniform": [0.1, 0.5]}}},
              "data": {"dataset": "digits"}, "seeds": 3}
    assert data.searched_dimensions(config) == {"model.unit": "grid", "train.lr": "loguniform",
                                                "train.sched.gamma": "uniform"}


def test_parallel_coordinates_codes_text_parameters():
    frame = data.parallel_coordinates_data(_trials())
    assert frame.columns.tolist() == ["param.model.unit", "param.train.lr", "objective"]
    assert frame["param.model.unit"].tolist() == [0, 0]
    assert frame["param.train.lr"].tolist() == [0.1, 0.2]
    assert frame.attrs["categories"] == {"param.model.unit": ["u1"]}


def test_paper_overlay_table2():
    trials = _trials()
    summary = summarize_variants(trials, n_boot=10)
    overlay = data.paper_overlay_data(trials, summary, "he2016_table2", "cifar10").set_index("variant")
    assert overlay.loc["V", "paper_value"] == 6.61
    assert overlay.loc["V", "median"] == 7.0
    assert overlay.loc["W", "paper_value"] == 6.37
    assert "X" not in overlay.index
    assert data.paper_overlay_data(trials, summary, "he2016_table2", "cifar100").empty
    assert data.paper_overlay_data(trials, summary, None, "cifar10").empty


def test_paper_overlay_failure_and_dataset_param():
    trials = _trials().assign(preset=["dropout_shortcut"] * 2 + ["original"] * 3,
                              **{"param.data.dataset": ["cifar10"] * 2 + ["cifar100"] * 3})
    summary = summarize_variants(trials, n_boot=10)
    overlay = data.paper_overlay_data(trials, summary, "he2016_table1", None).set_index("variant")
    assert overlay.loc["V", "paper_value"] == FAIL
    assert "W" not in overlay.index  # Table 1 has no CIFAR-100 row


def test_probe_scalar_data():
    trials = _trials().assign(probe_coherence=[0.5, 0.7, 0.2, 0.2, np.inf])
    scalars = data.probe_scalar_data(trials, ["W", "V", "X"])
    assert scalars["variant"].tolist() == ["W", "V", "X"]
    assert scalars["probe_coherence"].tolist()[:2] == [0.2, 0.6]
    assert math.isnan(scalars["probe_coherence"].iloc[2])
    assert data.probe_scalar_data(_trials(), ["V"]) is None


def test_probe_profile_data(tmp_path: Path):
    profiles = {"V": {"gradient_rms": [[1.0, 2.0, 3.0], [3.0, 2.0, None]], "coherence": []},
                "Z": {"gradient_rms": [[0.5, 0.5, 0.5]]}}
    (tmp_path / data.PROBE_FILE).write_text(json.dumps(profiles))
    result = data.probe_profile_data(tmp_path, ["V"])
    assert list(result) == ["gradient_rms"]
    v = result["gradient_rms"][result["gradient_rms"]["variant"] == "V"]
    assert v["median"].tolist() == [2.0, 2.0, 3.0]
    assert v["min"].tolist() == [1.0, 2.0, 3.0]
    assert v["max"].tolist() == [3.0, 2.0, 3.0]
    assert result["gradient_rms"]["variant"].unique().tolist() == ["V", "Z"]


def test_probe_profile_data_bad_format(tmp_path: Path):
    assert data.probe_profile_data(tmp_path, []) is None
    (tmp_path / data.PROBE_FILE).write_text(json.dumps({"V": {"gradient_rms": [[1.0, 2.0], [1.0]]}}))
    with pytest.raises(AblateError, match="equal-length number lists"):
        data.probe_profile_data(tmp_path, [])
    (tmp_path / data.PROBE_FILE).write_text("[1, 2]")
    with pytest.raises(AblateError, match="must contain an object keyed by variant label"):
        data.probe_profile_data(tmp_path, [])


def write_study(results_dir: Path, n_trials: int) -> None:
    """Write a real SQLite Optuna study with two parameters into `results_dir/study.db`."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(storage=f"sqlite:///{results_dir / 'study.db'}", study_name="synthetic")
    space = {"train.lr": optuna.distributions.FloatDistribution(0.01, 0.3, log=True),
             "model.unit": optuna.distributions.CategoricalDistribution(["a", "b"])}
    for i in range(n_trials):
        trial = study.ask(space)
        study.tell(trial, 10.0 * trial.params["train.lr"] + (1.0 if trial.params["model.unit"] == "a" else 0.0) + 0.01 * i)


def test_importance_from_real_study(tmp_path: Path):
    write_study(tmp_path, 8)
    importances, note = data.importance_data(tmp_path, "synthetic")
    assert note is None
    assert set(importances) == {"train.lr", "model.unit"}
    assert sum(importances.values()) == pytest.approx(1.0)


def test_importance_notes(tmp_path: Path):
    assert data.importance_data(tmp_path) == (None, "no Optuna study (study.db) in the results directory")
    write_study(tmp_path, 1)
    importances, note = data.importance_data(tmp_path)
    assert importances is None
    assert note == "1 completed trial(s) in the study; importance needs at least 2"
