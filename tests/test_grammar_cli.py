"""Tests of `ablate presets`, `ablate show` and `ablate enumerate`, run as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_ablate(*args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    return subprocess.run(
        [sys.executable, "-m", "ablate", *args],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )


def test_show_resnet164_parameter_count():
    result = run_ablate("show", "full_preactivation", "--depth", "164", "--block", "bottleneck")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "parameters     1,703,258" in lines
    assert "unit           bn-relu-conv1x1-bn-relu-conv3x3-bn-relu-conv1x1 + id" in lines
    assert "depth          164 = 9n+2 with n = 18 units per stage (3 convs per unit)" in lines
    assert "multiply-adds  244,500,992 at 3x32x32" in lines
    assert any(line.startswith("  stage 3  18 units, 128->256 channels at 8x8") for line in lines)


def test_show_spec_text_with_classes():
    result = run_ablate(
        "show",
        "conv-bn-relu-conv-bn+id->relu",
        "--depth",
        "20",
        "--classes",
        "100",
        "--in-channels",
        "1",
    )
    assert result.returncode == 0, result.stderr
    assert "preset         original, block basic" in result.stdout
    # ResNet-20 with 10 classes and 3 channels has 269,722. 100 classes add 90 outputs of 65
    # weights, and 1 input channel removes 2 of the stem's 144-weight input planes.
    assert f"parameters     {269_722 + 90 * 65 - 2 * 144:,}" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("show", "conv-bx + id", "--depth", "20"), "unknown token 'bx' at column 6"),
        (("show", "original", "--depth", "100"), "nearest valid depths: 98 or 104"),
        (("show", "full_preact", "--depth", "20"), "did you mean 'full_preactivation'"),
    ],
)
def test_bad_input_exits_2_without_traceback(args, message):
    result = run_ablate(*args)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ")
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_presets_lists_every_preset():
    result = run_ablate("presets")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 24
    assert lines[0].split() == [
        "original",
        "basic",
        "conv-bn-relu-conv-bn",
        "+",
        "id",
        "->",
        "relu",
    ]


def test_enumerate_counts_and_marks_presets():
    result = run_ablate("enumerate", "--bn", "2", "--relu", "2")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 210
    assert result.stderr.strip() == "210 units"
    assert "bn-relu-conv-bn-relu-conv + id    (full_preactivation)" in lines
    result = run_ablate(
        "enumerate", "--bn", "2", "--relu", "2", "--no-post", "--no-identical-neighbours"
    )
    assert len(result.stdout.splitlines()) == 42
    assert result.stderr.strip() == "42 units"


def test_help_does_not_import_torch():
    code = "import sys, ablate.cli; ablate.cli.build_parser(); print('torch' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.stdout.strip() == "False"
