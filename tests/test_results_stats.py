"""Tests of statistics across seeds against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from ablate.errors import AblateError
from ablate.results import (
    bootstrap_mean_ci,
    compare_variants,
    paired_difference,
    resolve_baseline,
    summarize_variants,
    variant_labels,
)

T_975_DF4 = 2.7764451051977987  # Student t quantile 0.975 with 4 degrees of freedom


def _trials() -> pd.DataFrame:
    rows = []
    for seed, value in enumerate([1.0, 2.0, 3.0, 4.0, 10.0]):
        rows.append({"trial_id": f"a{seed}", "variant": "A", "preset": "original", "seed": seed,
                     "status": "completed", "objective": value})
    for seed, value in enumerate([2.0, 4.0, 6.0, 8.0, 15.0]):
        rows.append({"trial_id": f"b{seed}", "variant": "B", "preset": "full_preactivation", "seed": seed,
                     "status": "completed", "objective": value})
    rows += [
        {"trial_id": "b5", "variant": "B", "preset": "full_preactivation", "seed": 5, "status": "pruned", "objective": 50.0},
        {"trial_id": "b6", "variant": "B", "preset": "full_preactivation", "seed": 6, "status": "diverged", "objective": math.nan},
        {"trial_id": "b7", "variant": "B", "preset": "full_preactivation", "seed": 7, "status": "error", "objective": None},
        {"trial_id": "c0", "variant": "C", "preset": "original", "seed": 0, "status": "completed", "objective": 7.0},
        {"trial_id": "c1", "variant": "C", "preset": "original", "seed": 1, "status": "completed", "objective": math.inf},
    ]
    return pd.DataFrame(rows)


def test_summary_hand_computed():
    summary = summarize_variants(_trials(), n_boot=2000).set_index("variant")
    a = summary.loc["A"]
    assert a["n"] == 5
    assert a["median"] == 3.0
    assert a["mean"] == 4.0
    assert a["std"] == pytest.approx(math.sqrt(12.5))
    assert (a["min"], a["max"]) == (1.0, 10.0)
    assert a["ci_low"] >= 1.0
    assert a["ci_high"] <= 10.0
    assert a["ci_low"] < 4.0 < a["ci_high"]


def test_summary_counts_statuses_and_excludes_partial_values():
    b = summarize_variants(_trials(), n_boot=100).set_index("variant").loc["B"]
    assert b["n"] == 5
    assert b["mean"] == 7.0
    assert b["max"] == 15.0  # the pruned trial's 50.0 does not count
    assert (b["n_trials"], b["n_completed"], b["n_pruned"], b["n_diverged"], b["n_error"]) == (8, 5, 1, 1, 1)


def test_summary_drops_infinite_objective():
    c = summarize_variants(_trials(), n_boot=100).set_index("variant").loc["C"]
    assert c["n"] == 1
    assert c["median"] == 7.0
    assert math.isnan(c["std"])
    assert math.isnan(c["ci_low"])


def test_summary_orders_by_median_and_mode():
    assert summarize_variants(_trials(), n_boot=10)["variant"].tolist() == ["A", "B", "C"]
    assert summarize_variants(_trials(), mode="max", n_boot=10)["variant"].tolist() == ["C", "B", "A"]
    with pytest.raises(AblateError, match="invalid objective mode 'best'"):
        summarize_variants(_trials(), mode="best")


def test_summary_variant_without_completed_trial_last():
    trials = pd.concat([_trials(), pd.DataFrame([{"trial_id": "d0", "variant": "D", "seed": 0,
                                                   "status": "error", "objective": None}])])
    summary = summarize_variants(trials, n_boot=10)
    assert summary["variant"].iloc[-1] == "D"
    assert summary["n"].iloc[-1] == 0
    assert math.isnan(summary["median"].iloc[-1])


def test_bootstrap_two_values_spans_both():
    # Resampled means of [a, b] are a, (a+b)/2 or b with probability 1/4, 1/2, 1/4, so the
    # 2.5th and 97.5th percentiles are a and b.
    assert bootstrap_mean_ci([3.0, 5.0], n_boot=10_000, seed=0) == (3.0, 5.0)


def test_bootstrap_edge_cases():
    assert all(math.isnan(v) for v in bootstrap_mean_ci([3.0]))
    assert bootstrap_mean_ci([2.5, 2.5, 2.5]) == (2.5, 2.5)


def test_bootstrap_reproducible_with_seed():
    values = np.arange(10.0) ** 1.5
    assert bootstrap_mean_ci(values, seed=7) == bootstrap_mean_ci(values, seed=7)
    assert bootstrap_mean_ci(values, seed=7) != bootstrap_mean_ci(values, seed=8)


def test_compare_paired_hand_computed():
    comparison = compare_variants(_trials(), "A").set_index("variant")
    b = comparison.loc["B"]
    # Differences B - A per seed: 1, 2, 3, 4, 5; mean 3, sample variance 2.5.
    half_width = T_975_DF4 * math.sqrt(2.5) / math.sqrt(5)
    assert b["n_pairs"] == 5
    assert b["mean_diff"] == pytest.approx(3.0)
    assert b["diff_ci_low"] == pytest.approx(3.0 - half_width)
    assert b["diff_ci_high"] == pytest.approx(3.0 + half_width)
    # Exact two-sided signed-rank p-value with 5 positive differences: 2 / 2**5.
    assert b["p_value"] == pytest.approx(0.0625)
    assert pd.isna(b["note"])


def test_compare_small_n_gives_note():
    c = compare_variants(_trials(), "A").set_index("variant").loc["C"]
    assert c["n_pairs"] == 1
    assert c["mean_diff"] == 6.0
    assert math.isnan(c["p_value"])
    assert "n=1 paired seeds is too small for a Wilcoxon test" in c["note"]


def test_paired_difference_all_zero_and_empty():
    zero = paired_difference([0.0] * 6)
    assert zero["p_value"] == 1.0
    assert zero["note"] == "every paired difference is zero"
    assert paired_difference([])["note"] == "no seed completed in both variants"


def test_baseline_by_label_or_preset():
    trials = _trials()
    assert resolve_baseline(trials, "B") == "B"
    assert resolve_baseline(trials, "full_preactivation") == "B"
    assert compare_variants(trials, "full_preactivation")["variant"].tolist() == ["A", "C"]


def test_baseline_errors():
    with pytest.raises(AblateError, match="preset 'original' matches 2 variants"):
        resolve_baseline(_trials(), "original")
    with pytest.raises(AblateError, match="baseline 'X' is neither a variant label nor a preset"):
        resolve_baseline(_trials(), "X")


def test_variant_fallback_to_param_columns():
    trials = pd.DataFrame({"param.model.unit": ["u1", "u1", "u2"], "param.train.lr": [0.1, 0.1, 0.1],
                           "param.seed": [0, 1, 0], "seed": [0, 1, 0]})
    assert variant_labels(trials).tolist() == ["model.unit=u1, train.lr=0.1"] * 2 + ["model.unit=u2, train.lr=0.1"]


def test_variant_fallback_to_unit_columns():
    trials = pd.DataFrame({"unit": ["u1", "u2"], "depth": [20, 20], "variant": [None, None]})
    assert variant_labels(trials).tolist() == ["unit=u1, depth=20", "unit=u2, depth=20"]
