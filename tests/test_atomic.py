"""Tests for atomic file writes."""

from __future__ import annotations

import os
import stat

import pytest

from ablate.atomic import write_atomically


@pytest.fixture
def umask_022():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_atomic_write_mode_follows_umask(tmp_path, umask_022):
    path = write_atomically(tmp_path / "table.txt", lambda temporary: temporary.write_text("new"))
    assert path.read_text() == "new"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_atomic_write_failure_keeps_old_file(tmp_path):
    path = tmp_path / "table.txt"
    path.write_text("old")

    def fail(temporary):
        temporary.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_atomically(path, fail)
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["table.txt"]
