"""Tests of the dashboard page: offline, escaped, strict JSON, and trace counts per variant."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ablate.dashboard import build_dashboard_html, write_dashboard
from ablate.dashboard.page import escape_html, figure_json, offline_plotly_js
from ablate.errors import AblateError
from ablate.results import ResultsWriter, load_results
from ablate.results.synthetic import write_synthetic_results

HOSTILE_NAME = "<script>alert('name')</script>"
HOSTILE_DESCRIPTION = "see http://example.invalid & <b>bold</b> https://x.invalid"


def _figure_specs(page: str) -> list[dict]:
    blocks = re.findall(r'<script type="application/json" id="figure-\d+-data">(.*?)</script>', page, re.S)

    def reject(constant: str):
        raise ValueError(f"non-strict JSON constant {constant}")

    return [json.loads(block, parse_constant=reject) for block in blocks]


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> str:
    results_dir = write_synthetic_results(
        tmp_path_factory.mktemp("sweep") / "hostile", name=HOSTILE_NAME, description=HOSTILE_DESCRIPTION,
        probe=True, n_seeds=3, n_epochs=6,
    )
    return write_dashboard(results_dir).read_text(encoding="utf-8")


def test_page_escapes_user_strings(page: str):
    assert HOSTILE_NAME not in page
    assert "<b>bold</b>" not in page
    assert "&lt;script&gt;alert(&#x27;name&#x27;)&lt;/script&gt;" in page


def test_page_has_no_url_scheme(page: str):
    assert "http://" not in page
    assert "https://" not in page


def test_page_inlines_plotly_once(page: str):
    assert page.count("plotly.js v") == 1
    assert len(re.findall(r"<script\s+src=", page)) == 0
    assert page.count(offline_plotly_js()[:2000]) == 1


def test_page_figure_json_is_strict(page: str):
    specs = _figure_specs(page)
    assert len(specs) == page.count('<div class="plot"')
    assert all(spec["data"] for spec in specs)


def test_page_sections_present(page: str):
    for heading in ("Leaderboard", "Distribution of test_error", "Learning curves", "Pruning: epochs run per trial",
                    "Hyperparameters", "Paper overlay (he2016_table2)", "Probe: signal and gradient propagation"):
        assert f"<h2>{heading}" in page, heading
    assert "Parameter importance not shown: no Optuna study (study.db) in the results directory." in page


def test_figure_json_nan_is_null():
    spec = {"data": [{"type": "scatter", "x": [1, 2, 3], "y": [1.0, float("nan"), float("inf")],
                      "name": "</script><script>x()"}], "layout": {}}
    text = figure_json(spec)
    assert json.loads(text)["data"][0]["y"] == [1.0, None, None]
    assert "</script>" not in text
    assert "NaN" not in text


def test_escape_html_hides_url_scheme():
    assert escape_html("go to https://a.invalid <now>") == "go to h&#116;tps://a.invalid &lt;now&gt;"


def test_plotly_bundle_escape_keeps_svg_namespace():
    js = offline_plotly_js()
    assert "http://" not in js
    assert 'h\\x74tp://www.w3.org/2000/svg' in js


def test_diverged_curve_has_gap(tmp_path: Path):
    writer = ResultsWriter(tmp_path)
    epochs = [{"epoch": 1, "test_error": 50.0, "train_loss": 2.0},
              {"epoch": 2, "test_error": float("nan"), "train_loss": float("nan")},
              {"epoch": 3, "test_error": 30.0, "train_loss": 1.0}]
    writer.record_trial({"trial_id": "a", "status": "diverged", "seed": 0, "variant": "V", "objective": float("nan"),
                         "epochs_run": 3}, epochs)
    specs = _figure_specs(build_dashboard_html(load_results(tmp_path)))
    medians = [trace for spec in specs for trace in spec["data"] if trace.get("mode") == "lines" and "fill" not in trace]
    assert medians
    for trace in medians:
        assert trace["y"] == [50.0, None, 30.0] or trace["y"] == [2.0, None, 1.0]
        assert trace["connectgaps"] is False


def test_write_dashboard_without_tables(tmp_path: Path):
    with pytest.raises(AblateError, match="no trials.parquet"):
        write_dashboard(tmp_path)


def _trace_counts(results_dir: Path) -> list[int]:
    return [len(spec["data"]) for spec in _figure_specs(build_dashboard_html(load_results(results_dir)))]


def test_trace_count_independent_of_trial_count(tmp_path: Path):
    few = write_synthetic_results(tmp_path / "few", n_variants=4, n_seeds=2, n_epochs=4, probe=True)
    many = write_synthetic_results(tmp_path / "many", n_variants=4, n_seeds=9, n_epochs=4, probe=True)
    assert _trace_counts(few) == _trace_counts(many)
