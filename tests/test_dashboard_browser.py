"""Browser test: headless Chromium opens dashboard.html from a file:// URL and renders every figure.

Needs a Chromium executable (Debian: `apt-get install chromium`); skipped without one. The
full-page screenshot is copied to tests/artifacts/ (git-ignored) for a person to look at.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ablate.dashboard import write_dashboard
from ablate.dashboard.headless import check_page, find_chromium
from ablate.results.synthetic import write_synthetic_results

ARTIFACTS = Path(__file__).parent / "artifacts"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(find_chromium() is None, reason="no Chromium executable on PATH (apt-get install chromium)"),
]


def test_dashboard_renders_in_chromium(tmp_path: Path):
    from tests.test_dashboard_data import write_study

    results_dir = write_synthetic_results(tmp_path / "sweep", name="browser <check>", n_seeds=5, n_epochs=12, probe=True)
    write_study(results_dir, 8)
    page = write_dashboard(results_dir)

    report = check_page(page, screenshot=tmp_path / "dashboard.png", timeout=90)

    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copyfile(report.screenshot, ARTIFACTS / "dashboard.png")
    assert report.console_errors == []
    # distribution, 2 learning curves, pruning, parallel coordinates, importance, paper, probe 1 + 3
    assert report.figures == 11
    assert len(report.rendered) == report.figures
    assert report.screenshot.stat().st_size > 10_000
