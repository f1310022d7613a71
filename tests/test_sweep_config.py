"""Sweep YAML validation: the plan's counts, number parsing and located errors for bad input."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ablate.errors import ConfigError
from ablate.sweep import load_sweep

REPO = Path(__file__).resolve().parents[1]

GOOD = """\
name: t
model:
  unit: full_preactivation
  depth: 8
train: {epochs: 2, batch_size: 128, device: cpu}
seeds: 2
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_numbers_with_exponents_load_as_floats(tmp_path):
    path = _write(tmp_path, GOOD + "train: {epochs: 2, lr: 1e-4, weight_decay: 5E-4, device: cpu}\n".replace("train", "train", 1))
    text = GOOD.replace("train: {epochs: 2, batch_size: 128, device: cpu}", "train: {epochs: 2, lr: 1e-4, weight_decay: 5E-4}")
    plan = load_sweep(_write(tmp_path, text))
    assert plan.trial_configs[0].train.lr == 1e-4
    assert plan.trial_configs[0].train.weight_decay == 5e-4
    del path


def test_plan_counts_cells_seeds_samples(tmp_path):
    text = GOOD.replace(
        "unit: full_preactivation", "unit: {grid: [original, full_preactivation]}\n  widths: {grid: [[16, 32, 64], [8, 16, 32]]}"
    ).replace("seeds: 2", "seeds: [3, 7, 9]\nnum_samples: 2\nsampler: {name: tpe}\n") + "train:\n  epochs: 2\n  lr: {loguniform: [1e-3, 1e-1]}\n"
    text = text.replace("train: {epochs: 2, batch_size: 128, device: cpu}\n", "")
    plan = load_sweep(_write(tmp_path, text))
    assert len(plan.space.cells()) == 4
    assert plan.space.seeds == [3, 7, 9]
    assert plan.num_trials == 4 * 3 * 2
    assert len({slot.key for slot in plan.space.slots()}) == 24
    assert plan.max_epochs == 2


def test_grouped_grid_sets_keys_together(tmp_path):
    text = """\
    name: t
    model:
      unit: full_preactivation
      grid:
        - {depth: 8, block: basic}
        - {depth: 11, block: bottleneck}
    train: {epochs: 1}
    """
    plan = load_sweep(_write(tmp_path, text))
    models = [(c.model.depth, c.model.block) for c in plan.trial_configs]
    assert models == [(8, "basic"), (11, "bottleneck")]


# (case, YAML text, expected line, expected text in the message)
BAD = [
    ("unknown key", GOOD + "sampeler: {name: tpe}\n", 7, "did you mean 'sampler'"),
    ("wrong type", GOOD.replace("seeds: 2", "seeds: two"), 6, "seeds"),
    ("negative lr", GOOD.replace("device: cpu}", "device: cpu, lr: -0.1}"), 5, "train.lr"),
    ("empty grid", GOOD.replace("depth: 8", "depth: {grid: []}"), 4, "empty grid"),
    ("grid and choice", GOOD.replace("depth: 8", "depth: {grid: [8], choice: [14]}"), 4, "grid and choice on one key"),
    ("unknown preset", GOOD.replace("full_preactivation", "{grid: [original, full_preactivaton]}"), 3, "full_preactivation"),
    ("invalid spec", GOOD.replace("full_preactivation", "'conv-bn-relu-cnv + id'"), 3, "^"),
    ("invalid depth", GOOD.replace("depth: 8", "depth: {grid: [8, 21]}"), 4, "21"),
    ("unknown dataset", GOOD + "data: {dataset: mnits}\n", 7, "mnits"),
    ("missing data root", GOOD + "data: {dataset: image_folder, root: /nonexistent/ablate-images}\n", 7, "/nonexistent/ablate-images"),
    ("objective never reported", GOOD + "objective: {metric: accuracy}\n", 7, "never reports 'accuracy'"),
    ("mode", GOOD + "objective: {metric: test_error, mode: maximize}\n", 7, "'min' or 'max'"),
    ("gpu above one", GOOD + "resources: {gpu: 1.5}\n", 7, "resources.gpu"),
    ("unknown sampler", GOOD + "sampler: {name: bayes}\n", 7, "sampler.name"),
    ("unknown pruner", GOOD + "pruner: {name: medain}\n", 7, "pruner.name"),
    ("unknown pruner option", GOOD + "pruner: {name: median, options: {n_startup: 3}}\n", 7, "did you mean 'n_startup_trials'"),
    ("top level not a mapping", "- name: t\n", 1, "top level must be a mapping"),
    ("val metric without split", GOOD + "objective: {metric: val_error}\n", 7, "data.validation"),
    ("uniform on grid sampler", GOOD.replace("depth: 8", "depth: 8\n  dropout_rescale: false") + "sampler: {name: grid}\ntrain:\n  lr: {uniform: [0.01, 0.1]}\n", None, "sampler grid"),
]


@pytest.mark.parametrize("case,text,line,expected", BAD, ids=[case[0] for case in BAD])
def test_bad_input_located_error(tmp_path, case, text, line, expected):
    if case == "uniform on grid sampler":
        text = text.replace("train: {epochs: 2, batch_size: 128, device: cpu}\n", "")
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_sweep(path)
    message = str(info.value)
    assert message.startswith(f"{path}:")
    if line is not None:
        assert info.value.line == line, message
    assert expected in message


@pytest.mark.slow
@pytest.mark.parametrize("case,text,line,expected", BAD[:16], ids=[case[0] for case in BAD[:16]])
def test_bad_input_cli_exit_code(tmp_path, case, text, line, expected):
    path = _write(tmp_path, text)
    env = {**os.environ, "PYTHONPATH": str(REPO), "RAY_ADDRESS": "127.0.0.1:1"}
    result = subprocess.run(
        [sys.executable, "-m", "ablate", "sweep", str(path), "--set", f"results_dir={tmp_path / 'results'}"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"error: {path}:")
    assert "Traceback" not in result.stderr
    # Ray never started: the unreachable RAY_ADDRESS would have failed differently, and no
    # results folder exists.
    assert not (tmp_path / "results").exists()
