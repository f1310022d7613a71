"""Tests of the results commands through `python -m ablate`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ablate.results.synthetic import write_synthetic_results


def _ablate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ablate", *args], capture_output=True, text=True,
                          env=os.environ.copy(), timeout=120)


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("results")
    write_synthetic_results(root / "alpha", n_seeds=3, n_epochs=3, searched_lr=False)
    (root / "pending").mkdir()
    (root / "pending" / "config.yaml").write_text("name: pending\n")
    (root / "not-a-sweep").mkdir()
    return root


def test_ls_lists_sweeps(root: Path):
    result = _ablate("ls", str(root))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("alpha: 12 trials (completed 9, pruned 1, diverged 1, error 1); best unit=")
    assert lines[1] == "pending: no finished trial yet"
    assert len(lines) == 2


def test_ls_missing_folder(tmp_path: Path):
    result = _ablate("ls", str(tmp_path / "absent"))
    assert result.returncode == 2
    assert result.stderr.startswith("error: results folder not found:")
    assert "Traceback" not in result.stderr


def test_dashboard_command_writes_page(root: Path):
    result = _ablate("dashboard", str(root / "alpha"), "--baseline", "original")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(root / "alpha" / "dashboard.html")
    assert (root / "alpha" / "dashboard.html").stat().st_size > 1_000_000


def test_dashboard_command_errors(root: Path):
    pending = _ablate("dashboard", str(root / "pending"))
    assert pending.returncode == 2
    assert "no trials.parquet in" in pending.stderr
    unknown = _ablate("dashboard", str(root / "alpha"), "--baseline", "nope")
    assert unknown.returncode == 2
    assert "baseline 'nope' is neither a variant label nor a preset" in unknown.stderr


def test_summary_command(root: Path):
    result = _ablate("summary", str(root / "alpha"), "--baseline", "original")
    assert result.returncode == 0, result.stderr
    assert "median" in result.stdout.splitlines()[0]
    assert "too small for a Wilcoxon test" in result.stdout
