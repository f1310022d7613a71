"""The `ablate probe` command, run as a user runs it: in a subprocess, on real files."""

import os
import re
import subprocess
import sys

import pytest

from ablate.cli import main


def _run(*args: str, cwd=None) -> subprocess.CompletedProcess:
    # One intra-op thread: two threads on two busy shared cores are many times slower.
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "ablate", "probe", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=300
    )


@pytest.mark.slow
def test_probe_units_prints_table_and_page(tmp_path):
    page = tmp_path / "probe.html"
    result = _run("original", "bn-relu-conv-bn-relu-conv + id", "--depth", "14", "--seeds", "2",
                  "--batch-size", "32", "--output", str(page))  # fmt: skip

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["variant", "block", "depth"]
    assert re.match(r"original\s+basic\s+14\s+\d\.\d{3} ± \d\.\d{3}", lines[2])
    # Spec text equal to a preset's canonical text is reported under the preset's name.
    assert lines[3].startswith("full_preactivation ")
    assert "over 2 seeds" in result.stdout
    text = page.read_text()
    assert text.count("<script>") >= 1
    assert not re.search(r"https?://", text)


def test_probe_search_space_probes_each_network(tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text(
        "name: probe_cells\n"
        "model:\n"
        "  unit: {grid: [original, full_preactivation]}\n"
        "  depth: {grid: [8, 14]}\n"
        "train:\n"
        "  epochs: 1\n"
        "  lr: {grid: [0.1, 0.01]}\n"
    )
    result = _run(str(space), "--seeds", "1", "--batch-size", "16")

    assert result.returncode == 0, result.stderr
    rows = [line.split()[:2] for line in result.stdout.splitlines()[2:-1]]
    # The learning-rate grid does not change the network, so four networks, not eight.
    assert rows == [["original", "depth=8"], ["original", "depth=14"],
                    ["full_preactivation", "depth=8"], ["full_preactivation", "depth=14"]]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("original",), "missing --depth"),
        (("origial", "--depth", "20"), "did you mean 'original'"),
        (("original", "--depth", "21"), "nearest valid depths: 20 or 26"),
        (("original", "--depth", "20", "--seeds", "0"), "invalid number of probe seeds 0"),
        (("original", "--depth", "20", "--batch-size", "5000"), "use 1 to 1437"),
        (("original", "--depth", "20", "--dataset", "nope"), "unknown dataset 'nope'"),
        (("missing.yaml",), "missing.yaml: file not found"),
        (("original", "--depth", "20", "--output", "x.png"), "use a name ending in .html"),
    ],
)
def test_probe_bad_input_message(tmp_path, monkeypatch, capsys, args, message):
    # In-process, so the table of cases pays for one torch import; the exit code of the real
    # command is checked below.
    monkeypatch.chdir(tmp_path)
    code = main(["probe", *args])

    stderr = capsys.readouterr().err
    assert code == 2
    assert message in stderr
    assert stderr.startswith("error: ")


def test_probe_bad_input_exits_2(tmp_path):
    result = _run("original", "--depth", "21", cwd=tmp_path)

    assert result.returncode == 2
    assert "nearest valid depths: 20 or 26" in result.stderr
    assert "Traceback" not in result.stderr
