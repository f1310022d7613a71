"""End-to-end sweeps through the real trainer: resume after a killed driver, two Ray nodes, and
the five activation presets with the median pruner."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import optuna
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]


def _descendants(pid: int) -> set[int]:
    """Return every live descendant of `pid`, read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found, stack = set(), [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def _kill_tree(process: subprocess.Popen) -> None:
    pids = _descendants(process.pid) | {process.pid}
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait(timeout=30)


def _reports(results: Path) -> list[dict]:
    path = results / "reports.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip() and '"event"' not in line]


def _ablate(*args: str, cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("RAY_ADDRESS", None)
    return subprocess.Popen(
        [sys.executable, "-m", "ablate", *args], cwd=cwd, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )


RESUME_YAML = """\
name: resume
model:
  unit: {grid: [original, full_preactivation, relu_before_addition]}
  depth: 8
train: {epochs: 8, batch_size: 128, device: cpu}
seeds: 2
max_concurrent_trials: 2
resources: {cpu: 1}
results_dir: results
"""


@pytest.mark.slow
def test_resume_after_killed_driver(tmp_path):
    (tmp_path / "sweep.yaml").write_text(RESUME_YAML)
    results = tmp_path / "results" / "resume"
    driver = _ablate("sweep", "sweep.yaml", cwd=tmp_path)
    try:
        deadline = time.monotonic() + 400
        # An epoch takes under a second here, so the driver is killed as soon as a trial is part-way:
        # eight epochs leave a part-way trial several epochs short of finishing at the kill.
        while time.monotonic() < deadline:
            time.sleep(0.2)
            reports = _reports(results)
            finished = {r["trial_id"] for r in reports if r.get("status") != "running"}
            partway = {r["trial_id"] for r in reports if r.get("status") == "running" and r["epoch"] >= 2} - finished
            if len(finished) >= 2 and partway:
                break
        else:
            pytest.fail("the sweep did not reach two finished trials and one part-way trial in time")
    finally:
        _kill_tree(driver)

    before = _reports(results)
    finished_before = {r["trial_id"] for r in before if r.get("status") != "running"}
    interrupted = {r["trial_id"] for r in before} - finished_before
    assert interrupted, "every trial that reported had finished before the kill"
    rows_before = pd.read_parquet(results / "trials.parquet").set_index("trial_id")

    resumed = _ablate("resume", str(results), cwd=tmp_path)
    try:
        output, _ = resumed.communicate(timeout=400)
    finally:
        _kill_tree(resumed)
    assert resumed.returncode == 0, output

    trials = pd.read_parquet(results / "trials.parquet")
    cells = Counter(zip(trials["preset"], trials["seed"]))
    expected = {(unit, seed) for unit in ("original", "full_preactivation", "relu_before_addition") for seed in (0, 1)}
    assert set(cells) == expected
    assert len(trials) == 6
    assert set(cells.values()) == {1}
    study = optuna.load_study(study_name="resume", storage=f"sqlite:///{results / 'study.db'}")
    assert len(study.trials) == 6
    assert sorted(t.user_attrs["ray_trial_id"] for t in study.trials) == sorted(trials["trial_id"])

    after = _reports(results)[len(before):]
    # Finished trials were not trained again, and keep their rows.
    assert not {r["trial_id"] for r in after} & finished_before
    indexed = trials.set_index("trial_id")
    for trial_id in finished_before & set(rows_before.index):
        assert indexed.loc[trial_id, "finished_at"] == rows_before.loc[trial_id, "finished_at"]
    # Each interrupted trial continued from its checkpoint rather than from epoch 1: under its own
    # Ray trial id when Ray's snapshot held it, else under the Ray trial that took over its slot.
    successor = {
        earlier: t.user_attrs["ray_trial_id"]
        for t in study.trials
        for earlier in t.user_attrs.get("earlier_ray_trial_ids", [])
    }
    for trial_id in interrupted:
        continuing_id = successor.get(trial_id, trial_id)
        continued = [r for r in after if r["trial_id"] == continuing_id]
        epochs = [r["epoch"] for r in continued]
        assert epochs and min(epochs) > 1, (trial_id, continuing_id, epochs)
        assert all(r["resumed_from_epoch"] >= 1 for r in continued), (trial_id, continuing_id)
        assert indexed.loc[continuing_id, "epochs_run"] == 8


@pytest.mark.slow
def test_two_nodes_run_one_sweep(tmp_path):
    from ray.cluster_utils import Cluster

    from ablate.sweep import load_sweep
    from ablate.sweep.runner import run_sweep

    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 1, "include_dashboard": False},
    )
    try:
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        path = tmp_path / "sweep.yaml"
        path.write_text(
            textwrap.dedent(
                f"""\
                name: twonodes
                model: {{unit: full_preactivation, depth: 8}}
                train: {{epochs: 1, batch_size: 128, device: cpu}}
                seeds: 4
                max_concurrent_trials: 2
                ray: {{address: "{cluster.address}"}}
                results_dir: {tmp_path / 'results'}
                """
            )
        )
        plan = load_sweep(path)
        run_sweep(plan)
        import ray

        ray.shutdown()
        trials = pd.read_parquet(plan.results_dir / "trials.parquet")
        assert len(trials) == 4
        assert set(trials["status"]) == {"completed"}
        node_ids = {node.node_id for node in cluster.list_all_nodes()}
        assert set(trials["node_id"]) == node_ids
    finally:
        cluster.shutdown()


@pytest.mark.slow
def test_activation_presets_median_pruning(tmp_path):
    import ray

    from ablate.sweep import load_sweep
    from ablate.sweep.runner import run_sweep

    path = tmp_path / "sweep.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            name: activations
            model:
              unit: {{grid: [original, bn_after_addition, relu_before_addition, relu_only_preactivation, full_preactivation]}}
              depth: 20
            train: {{epochs: 2, batch_size: 128, device: cpu}}
            seeds: 2
            max_concurrent_trials: 2
            pruner: {{name: median, options: {{n_startup_trials: 2, n_warmup_steps: 0}}}}
            results_dir: {tmp_path / 'results'}
            """
        )
    )
    plan = load_sweep(path)
    ray.init(num_cpus=2, include_dashboard=False, configure_logging=False, log_to_driver=False)
    try:
        run_sweep(plan)
    finally:
        ray.shutdown()

    trials = pd.read_parquet(plan.results_dir / "trials.parquet")
    study = {t.user_attrs["ray_trial_id"]: t for t in optuna.load_study(study_name="activations", storage=plan.storage_url).trials}
    assert len(trials) == len(study) == 10
    assert Counter(trials["preset"]) == {name: 2 for name in (
        "original", "bn_after_addition", "relu_before_addition", "relu_only_preactivation", "full_preactivation")}
    state_of = {"completed": "COMPLETE", "pruned": "PRUNED", "diverged": "FAIL", "error": "FAIL"}
    for row in trials.itertuples():
        assert study[row.trial_id].state.name == state_of[row.status]
    pruned = trials[trials["status"] == "pruned"]
    assert len(pruned) >= 1
    assert (pruned["epochs_run"] < 2).all()
    assert all(study[t].state.name == "PRUNED" for t in pruned["trial_id"])
