"""Tests of the shipped search spaces, their documented smoke runs, and the quickstart end to end."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from ablate.grammar import enumerate_units
from ablate.results import load_results
from ablate.yamlio import load_yaml

REPO = Path(__file__).resolve().parents[1]
SEARCH_SPACES = sorted((REPO / "search_spaces").glob("*.yaml"))
PAPER_SPACES = [path for path in SEARCH_SPACES if path.name.startswith("he2016_")]
FIVE_ORDERINGS = {
    "original", "bn_after_addition", "relu_before_addition", "relu_only_preactivation", "full_preactivation",
}


def _ablate(*args: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "ablate", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def _smoke_arguments(path: Path) -> list[str]:
    """Return the arguments after `ablate` of the smoke command in a search space's header."""
    header = [line[1:].strip() for line in path.read_text().splitlines() if line.startswith("#")]
    start = next(i for i, line in enumerate(header) if line.startswith("ablate sweep") and "--set name=" in " ".join(header[i:i + 2]))
    lines = []
    for line in header[start:]:
        lines.append(line.rstrip("\\").strip())
        if not line.endswith("\\"):
            break
    return shlex.split(" ".join(lines))[1:]


def test_search_spaces_shipped():
    names = {path.name for path in SEARCH_SPACES}
    assert names == {
        "quickstart.yaml",
        "orderings_search.yaml",
        "he2016_table1_shortcuts.yaml",
        "he2016_table2_activations.yaml",
        "he2016_table3_preactivation.yaml",
    }


@pytest.mark.parametrize("path", SEARCH_SPACES, ids=lambda path: path.stem)
def test_search_space_validates(path, tmp_path):
    result = _ablate("validate", str(path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "trials" in result.stdout


@pytest.mark.parametrize("path", PAPER_SPACES, ids=lambda path: path.stem)
def test_paper_space_protocol_and_reference(path):
    document = load_yaml(path).data
    assert document["train"]["protocol"] == "he2016"
    assert document["seeds"] == 5
    assert document["reference"] == path.stem.split("_")[0] + "_" + path.stem.split("_")[1]
    assert 0 < document["resources"]["gpu"] <= 1


@pytest.mark.parametrize("path", PAPER_SPACES, ids=lambda path: path.stem)
def test_paper_smoke_command_validates(path, tmp_path):
    arguments = _smoke_arguments(path)
    assert arguments[:2] == ["sweep", f"search_spaces/{path.name}"]
    result = _ablate("validate", str(path), *arguments[2:], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    plan = result.stdout
    assert "x 1 seed x" in plan
    assert "max epochs per trial: 2" in plan


def test_orderings_search_lists_every_enumerated_unit():
    document = load_yaml(REPO / "search_spaces" / "orderings_search.yaml").data
    listed = document["model"]["unit"]["choice"]
    expected = [str(unit) for unit in enumerate_units(2, 2, block="basic")]
    assert listed == expected
    assert len(listed) == 210
    assert document["sampler"]["name"] == "tpe"
    assert document["pruner"]["name"] == "hyperband"


def test_quickstart_plan():
    document = load_yaml(REPO / "search_spaces" / "quickstart.yaml").data
    assert set(document["model"]["unit"]["grid"]) == FIVE_ORDERINGS
    assert document["data"]["dataset"] == "digits"
    assert document["seeds"] == 3
    assert document["pruner"]["name"] == "median"
    assert document["probe"] is True


def test_readme_commands_match_ci():
    readme = (REPO / "README.md").read_text()
    assert "make demo" in readme
    assert "make test" in readme
    ci_commands = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()]
    assert "make test" in ci_commands
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^test: ", makefile, re.M)
    assert re.search(r"^demo: ", makefile, re.M)
    assert "search_spaces/quickstart.yaml" in makefile


@pytest.mark.slow
def test_table3_smoke_run(tmp_path):
    path = REPO / "search_spaces" / "he2016_table3_preactivation.yaml"
    arguments = _smoke_arguments(path)
    arguments[1] = str(path)
    result = _ablate(*arguments, "--set", f"results_dir={tmp_path / 'results'}", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr

    results = load_results(tmp_path / "results" / "table3_smoke")
    assert len(results.trials) == 2
    assert set(results.trials["preset"]) == {"original", "full_preactivation"}
    assert set(results.trials["status"]) == {"completed"}
    assert (results.epochs.groupby("trial_id")["epoch"].max() == 2).all()


@pytest.mark.slow
def test_quickstart_end_to_end(tmp_path):
    results_dir = tmp_path / "results"
    result = _ablate(
        "sweep", str(REPO / "search_spaces" / "quickstart.yaml"),
        "--set", "train.epochs=3", "--set", "model.depth=20", "--set", f"results_dir={results_dir}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "15 of 15 trials" in result.stdout

    results = load_results(results_dir / "quickstart")
    trials = results.trials
    assert len(trials) == 15
    assert set(trials["preset"]) == FIVE_ORDERINGS
    assert (trials.groupby("preset")["seed"].apply(sorted).map(tuple) == (0, 1, 2)).all()
    assert set(trials["status"]) <= {"completed", "pruned"}
    assert trials[["probe_coherence", "probe_spread", "probe_growth"]].notna().all().all()
    assert set(results.epochs["trial_id"]) == set(trials["trial_id"])
    summary = results.summary()
    assert len(summary) == 5

    study = optuna.load_study(study_name="quickstart", storage=f"sqlite:///{results_dir / 'quickstart' / 'study.db'}")
    states = {t.user_attrs["ray_trial_id"]: t.state.name for t in study.trials}
    expected = {"completed": "COMPLETE", "pruned": "PRUNED"}
    assert states == {row.trial_id: expected[row.status] for row in trials.itertuples()}

    page = (results_dir / "quickstart" / "dashboard.html").read_text()
    for variant in trials["variant"].unique():
        assert variant in page
    assert "Learning curves" in page
    assert "Probe" in page
    assert "http://" not in page
    assert "https://" not in page


@pytest.mark.parametrize(
    "override, message",
    [
        ("resources.cpu=4096", "resources.cpu is 4096 per trial, but the local Ray instance has"),
        ("resources.gpu=0.5", "resources.gpu is 0.5 per trial, but this machine has no CUDA GPU"),
    ],
)
def test_unsatisfiable_resources_exit_2(override, message, tmp_path):
    pytest.importorskip("torch")
    import torch

    if override.startswith("resources.gpu") and torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    results_dir = tmp_path / "results"
    result = _ablate(
        "sweep", str(REPO / "search_spaces" / "quickstart.yaml"), "--set", override,
        "--set", f"results_dir={results_dir}", cwd=tmp_path, timeout=120,
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (results_dir / "quickstart").exists()
