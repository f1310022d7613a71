"""The probe's sweep interface (`probe_config`), its `probe.json` file and its HTML page."""

import json
import math
import re

import numpy as np
import pytest
import torch

from ablate.errors import AblateError
from ablate.probe import (
    ProbeResult,
    ProbeSummary,
    load_probe_batch,
    probe_config,
    probe_trial_config,
    probe_unit,
    render_probe_page,
    write_probe_json,
)


@pytest.fixture(autouse=True)
def single_thread():
    # Two intra-op threads on two busy shared cores are many times slower than one.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _summary(label: str, seeds: int = 2) -> ProbeSummary:
    results = [
        ProbeResult(
            activation_rms=np.array([1.0, 2.0, 3.0]),
            gradient_rms=np.array([1e-3, 1e-2 * (seed + 1), 1e-1]),
            coherence=np.array([math.nan, 0.5, 1.0]),
            stage_of_unit=(0, 1, 1),
            mean_coherence=0.5,
            spread=2.0,
            growth=3.0,
            loss=2.3,
        )
        for seed in range(seeds)
    ]
    return ProbeSummary(label, "conv-bn-relu-conv-bn + id -> relu", "basic", 8, list(range(seeds)), results)


def test_probe_config_returns_sweep_columns():
    trial = {"model": {"unit": "full_preactivation", "depth": 14}, "data": {"dataset": "digits"}, "seed": 4}
    values = probe_config(trial, seeds=2)

    assert set(values) == {"probe_coherence", "probe_spread", "probe_growth"}
    summary = probe_trial_config(trial, seeds=2)
    assert summary.seeds == [0, 1]
    assert values["probe_spread"] == summary.mean_and_std("spread")[0]
    assert all(math.isfinite(value) for value in values.values())


def test_probe_config_rejects_bad_trial():
    with pytest.raises(AblateError, match="depth"):
        probe_config({"model": {"unit": "original", "depth": 9}}, seeds=1)


def test_profile_has_one_row_per_seed():
    summary = probe_unit("original", 14, seeds=[0, 3], batch_size=32)
    profile = summary.profile()

    assert set(profile) == {"gradient_rms", "coherence", "activation_rms"}
    for rows in profile.values():
        assert len(rows) == 2
        assert all(len(row) == 6 for row in rows)  # depth 14 has two basic units per stage
    # Each stage's last unit is its own reference. The first unit of stages 2 and 3 reads a tensor
    # of another shape than its stage's last unit, so it has no coherence.
    coherence = profile["coherence"][0]
    assert coherence[1:] == [1.0, None, 1.0, None, 1.0]
    assert 0 < coherence[0] < 1
    assert summary.results[0].mean_coherence == coherence[0]


def test_write_probe_json_merges_labels(tmp_path):
    write_probe_json(tmp_path, [_summary("a"), _summary("b")])
    path = write_probe_json(tmp_path, [_summary("b", seeds=3)])

    stored = json.loads(path.read_text())
    assert path == tmp_path / "probe.json"
    assert sorted(stored) == ["a", "b"]
    assert len(stored["b"]["gradient_rms"]) == 3
    assert stored["a"]["coherence"][0] == [None, 0.5, 1.0]
    assert stored["a"]["gradient_rms"][1] == [1e-3, 2e-2, 1e-1]
    assert not list(tmp_path.glob(".probe-*"))


def test_write_probe_json_replaces_without_merge(tmp_path):
    write_probe_json(tmp_path, [_summary("a")])
    path = write_probe_json(tmp_path, [_summary("b")], merge=False)

    assert sorted(json.loads(path.read_text())) == ["b"]


def test_page_is_offline_and_escaped():
    page = render_probe_page([_summary("<img src=x onerror=alert(1)>"), _summary("b")])

    assert not re.search(r"https?://", page)
    assert page.count("Plotly.newPlot") == 1
    assert "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


def test_probe_batch_is_normalized_and_seeded():
    x, y = load_probe_batch("digits", 64, seed=1)
    again, _ = load_probe_batch("digits", 64, seed=1)
    other, _ = load_probe_batch("digits", 64, seed=2)

    assert x.shape == (64, 1, 8, 8)
    assert x.dtype == torch.float32
    assert y.shape == (64,)
    assert torch.equal(x, again)
    assert not torch.equal(x, other)
    assert abs(float(x.mean())) < 0.3


def test_bad_batch_size_raises():
    with pytest.raises(AblateError, match="use 1 to 1437"):
        load_probe_batch("digits", 0, seed=0)


def test_band_outline_skips_gaps():
    from ablate.probe.page import _band_outline

    units = np.array([1, 2, 3, 4])
    lower = np.array([0.1, 0.2, math.nan, 0.4])
    upper = np.array([0.5, 0.6, math.nan, 0.8])
    xs, ys = _band_outline(units, lower, upper)

    assert xs == [1, 2, 2, 1, None, 4, 4, None]
    assert ys == [0.5, 0.6, 0.2, 0.1, None, 0.8, 0.4, None]
