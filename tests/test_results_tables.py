"""Tests of the results tables: ResultsWriter, provenance and load_results."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from ablate.errors import AblateError
from ablate.results import ResultsWriter, load_results, provenance


def _row(trial_id: str, status: str = "completed", seed: int = 0, objective: float = 5.0, **extra):
    return {"trial_id": trial_id, "status": status, "seed": seed, "variant": "v", "unit": "u",
            "preset": None, "objective": objective, **extra}


def _epochs(n: int, value: float = 1.0):
    return [{"epoch": e, "test_error": value + e, "train_loss": 2.0 / e, "status": "running"} for e in range(1, n + 1)]


def test_writer_creates_both_tables(tmp_path: Path):
    writer = ResultsWriter(tmp_path / "sweep")
    writer.record_trial(_row("a"), _epochs(3))
    trials = pd.read_parquet(tmp_path / "sweep" / "trials.parquet")
    epochs = pd.read_parquet(tmp_path / "sweep" / "epochs.parquet")
    assert trials["trial_id"].tolist() == ["a"]
    assert epochs["trial_id"].tolist() == ["a", "a", "a"]
    assert epochs["epoch"].tolist() == [1, 2, 3]


def test_writer_upserts_by_trial_id(tmp_path: Path):
    writer = ResultsWriter(tmp_path)
    writer.record_trial(_row("a", objective=5.0), _epochs(3))
    writer.record_trial(_row("b", seed=1), _epochs(2))
    writer.record_trial(_row("a", objective=4.0), _epochs(4))
    results = load_results(tmp_path)
    assert results.trials["trial_id"].tolist() == ["a", "b"]
    assert results.trials.set_index("trial_id").loc["a", "objective"] == 4.0
    assert results.epochs.groupby("trial_id").size().to_dict() == {"a": 4, "b": 2}


def test_writer_leaves_no_temporary_files(tmp_path: Path):
    writer = ResultsWriter(tmp_path)
    for i in range(3):
        writer.record_trial(_row(f"t{i}", seed=i), _epochs(2))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epochs.parquet", "trials.parquet"]


def test_writer_reopened_keeps_earlier_trials(tmp_path: Path):
    ResultsWriter(tmp_path).record_trial(_row("a"), _epochs(2))
    writer = ResultsWriter(tmp_path)
    assert writer.trial_ids == ["a"]
    writer.record_trial(_row("b", seed=1), _epochs(3))
    results = load_results(tmp_path)
    assert results.trials["trial_id"].tolist() == ["a", "b"]
    assert len(results.epochs) == 5


def test_writer_keeps_unknown_columns_and_mixed_types(tmp_path: Path):
    writer = ResultsWriter(tmp_path)
    writer.record_trial(_row("a", **{"param.model.width": 16, "custom_note": "x"}), _epochs(1))
    writer.record_trial(_row("b", seed=1, **{"param.model.width": "wide"}), [])
    trials = load_results(tmp_path).trials.set_index("trial_id")
    assert trials.loc["a", "custom_note"] == "x"
    assert trials["param.model.width"].tolist() == ["16", "wide"]


def test_writer_rejects_bad_rows(tmp_path: Path):
    writer = ResultsWriter(tmp_path)
    with pytest.raises(AblateError, match="no trial_id"):
        writer.record_trial({"status": "completed"}, [])
    with pytest.raises(AblateError, match="invalid status 'done'"):
        writer.record_trial(_row("a", status="done"), [])


def test_writer_records_trial_without_epochs(tmp_path: Path):
    ResultsWriter(tmp_path).record_trial(_row("a", status="error", objective=math.nan, error="boom"), [])
    results = load_results(tmp_path)
    assert results.trials["status"].tolist() == ["error"]
    assert results.epochs.empty


def test_load_results_after_killed_sweep(tmp_path: Path):
    writer = ResultsWriter(tmp_path)
    writer.record_trial(_row("a"), _epochs(2))
    writer.record_trial(_row("b", seed=1), _epochs(2))
    # A kill during the next write leaves a temporary file behind, and epochs of a trial that
    # trials.parquet does not list yet (epochs are replaced first).
    (tmp_path / ".trials.parquet.abc.tmp").write_bytes(b"partial")
    epochs = pd.read_parquet(tmp_path / "epochs.parquet")
    extra = pd.DataFrame({"trial_id": ["c"], "epoch": [1], "test_error": [3.0], "train_loss": [1.0], "status": ["running"]})
    pd.concat([epochs, extra]).to_parquet(tmp_path / "epochs.parquet", index=False)
    results = load_results(tmp_path)
    assert results.trials["trial_id"].tolist() == ["a", "b"]
    assert sorted(set(results.epochs["trial_id"])) == ["a", "b"]


def test_load_results_without_tables(tmp_path: Path):
    (tmp_path / "config.yaml").write_text("name: x\n")
    with pytest.raises(AblateError, match="no trials.parquet in .*no trial of this sweep has finished yet"):
        load_results(tmp_path)


def test_load_results_missing_directory(tmp_path: Path):
    with pytest.raises(AblateError, match="results directory not found"):
        load_results(tmp_path / "absent")


def test_load_results_reads_config(tmp_path: Path):
    ResultsWriter(tmp_path).record_trial(_row("a"), _epochs(1))
    (tmp_path / "config.yaml").write_text("name: demo\nobjective: {metric: val_error, mode: max}\n")
    results = load_results(tmp_path)
    assert results.config["name"] == "demo"
    assert results.name == "demo"
    assert results.objective_metric == "val_error"
    assert results.mode == "max"


def test_load_results_rejects_non_mapping_config(tmp_path: Path):
    ResultsWriter(tmp_path).record_trial(_row("a"), _epochs(1))
    (tmp_path / "config.yaml").write_text("- a\n- b\n")
    with pytest.raises(AblateError, match="must contain a mapping"):
        load_results(tmp_path)


def test_provenance_fields():
    info = provenance(device="cuda:0")
    assert set(info) == {"ablate_version", "git_revision", "torch_version", "ray_version",
                         "optuna_version", "device", "hostname"}
    assert info["device"] == "cuda:0"
    assert info["ablate_version"] == __import__("ablate").__version__
    assert info["hostname"]


def test_results_import_avoids_torch_ray_plotly():
    code = ("import sys, ablate.results, ablate.dashboard, ablate.results.synthetic; "
            "ablate.results.provenance('cpu'); "
            "print(sorted(m for m in ('torch', 'ray', 'plotly', 'optuna') if m in sys.modules))")
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ.copy(), check=True)
    assert output.stdout.strip() == "[]"


def test_load_results_exported_from_package(tmp_path: Path):
    import ablate

    ResultsWriter(tmp_path).record_trial(_row("a"), _epochs(1))
    assert ablate.load_results(tmp_path).trials["trial_id"].tolist() == ["a"]
    assert ablate.write_dashboard.__module__ == "ablate.dashboard.build"
