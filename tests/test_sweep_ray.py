"""The Optuna<->Ray bridge on a real local Ray instance, with a fast synthetic trial function.

Each test runs a real Ray Tune sweep against a real SQLite Optuna study and checks the study, the
results tables and the exact coverage of grid cells and seeds.
"""

from __future__ import annotations

import os
import textwrap
from collections import Counter
from pathlib import Path

import optuna
import pandas as pd
import pytest

from ablate.sweep import load_sweep

TESTS = Path(__file__).resolve().parent
TOY = "test_sweep_toy_trial:toy_trial"


@pytest.fixture(scope="module")
def ray_local():
    """A local Ray instance whose workers can import the toy trial module."""
    ray = pytest.importorskip("ray")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(TESTS), str(TESTS.parent), os.environ.get("PYTHONPATH", "")])
    ray.init(num_cpus=2, include_dashboard=False, configure_logging=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def _plan(tmp_path: Path, text: str):
    from test_sweep_toy_trial import validate_toy

    path = tmp_path / "sweep.yaml"
    path.write_text(textwrap.dedent(text))
    return load_sweep(path, [f"results_dir={tmp_path / 'results'}"], validate_trial=validate_toy)


def _study(plan) -> optuna.Study:
    return optuna.load_study(study_name=plan.name, storage=plan.storage_url)


@pytest.mark.slow
def test_grid_coverage_exact_with_concurrency(ray_local, tmp_path):
    from ablate.sweep.runner import run_sweep

    plan = _plan(
        tmp_path,
        """\
        name: coverage
        model:
          unit: {grid: [a, b, c]}
          grid:
            - {depth: 8}
            - {depth: 14}
        train: {epochs: 2, sleep: 0.01}
        seeds: [0, 5]
        max_concurrent_trials: 2
        """,
    )
    assert plan.num_trials == 12
    run_sweep(plan, trial_function=TOY)

    trials = pd.read_parquet(plan.results_dir / "trials.parquet")
    cells = Counter(zip(trials["param.model.unit"], trials["param.model.depth"], trials["seed"]))
    expected = {(unit, depth, seed) for unit in "abc" for depth in (8, 14) for seed in (0, 5)}
    assert set(cells) == expected
    assert len(trials) == 12
    assert set(cells.values()) == {1}
    study = _study(plan)
    assert len(study.trials) == 12
    assert sorted(t.user_attrs["ray_trial_id"] for t in study.trials) == sorted(trials["trial_id"])


@pytest.mark.slow
def test_states_match_pruned_failed_diverged(ray_local, tmp_path):
    from ablate.sweep.runner import run_sweep

    plan = _plan(
        tmp_path,
        """\
        name: states
        model:
          unit: {grid: [a, b, c, d, fail, nan]}
        train: {epochs: 4, sleep: 0.01}
        seeds: 1
        max_concurrent_trials: 1
        pruner: {name: median, options: {n_startup_trials: 2, n_warmup_steps: 1}}
        """,
    )
    run_sweep(plan, trial_function=TOY)

    trials = pd.read_parquet(plan.results_dir / "trials.parquet").set_index("param.model.unit")
    study = {t.user_attrs["ray_trial_id"]: t for t in _study(plan).trials}
    assert len(study) == len(trials) == 6
    state_of = {"completed": "COMPLETE", "pruned": "PRUNED", "diverged": "FAIL", "error": "FAIL"}
    for unit, row in trials.iterrows():
        assert study[row["trial_id"]].state.name == state_of[row["status"]], unit

    assert trials.loc["a", "status"] == "completed"
    assert trials.loc["a", "objective"] == pytest.approx(10.0 / 4)
    assert study[trials.loc["a", "trial_id"]].value == pytest.approx(10.0 / 4)
    # Units c and d are worse than the median of a and b at epoch 2, after the warm-up epoch.
    for unit in ("c", "d"):
        assert trials.loc[unit, "status"] == "pruned"
        assert trials.loc[unit, "epochs_run"] < 4
        frozen = study[trials.loc[unit, "trial_id"]]
        assert frozen.value == pytest.approx(frozen.intermediate_values[max(frozen.intermediate_values)])
    assert trials.loc["fail", "status"] == "error"
    assert "toy failure at epoch 2" in trials.loc["fail", "error"]
    assert "toy failure" in study[trials.loc["fail", "trial_id"]].user_attrs["fail_reason"]
    assert trials.loc["nan", "status"] == "diverged"
    assert study[trials.loc["nan", "trial_id"]].user_attrs["fail_reason"].startswith("diverged")
    epochs = pd.read_parquet(plan.results_dir / "epochs.parquet")
    assert set(epochs["trial_id"]) == set(trials["trial_id"])
