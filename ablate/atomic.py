"""Atomic file writes: write a temporary file beside the target, then rename it over the target.

A reader, or a sweep killed mid-write, finds either the old file or the new one, never half of one.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = ["write_atomically"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomically(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call `write(temporary_path)`, then rename the temporary file to `path`.

    The file gets the permissions a plain `open(path, "w")` would give (0666 less the umask), not
    the owner-only mode of `tempfile.mkstemp`, so other users of a shared results folder can read it.

    Returns:
        `path` as a `Path`.
    """
    path = Path(path)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(descriptor)
    try:
        write(Path(temporary))
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path
