"""Trial checkpoints: model, optimizer, schedule position, every RNG state, and the history.

A checkpoint is one file, `trial.pt`, in a directory. It is loaded with
`torch.load(weights_only=True)`, so every stored value is a tensor or a plain Python value
(the NumPy RNG state is stored as a list).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ablate.errors import AblateError

__all__ = ["CHECKPOINT_FILE", "capture_rng_state", "load_checkpoint", "restore_rng_state", "save_checkpoint"]

CHECKPOINT_FILE = "trial.pt"
_FORMAT_VERSION = 1


def capture_rng_state(loader_generator: torch.Generator) -> dict[str, Any]:
    """Collect the Python, NumPy, torch (CPU and CUDA) and data-order RNG states."""
    name, keys, position, has_gauss, cached_gauss = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": [name, keys.tolist(), int(position), int(has_gauss), float(cached_gauss)],
        "torch": torch.get_rng_state(),
        "loader": loader_generator.get_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any], loader_generator: torch.Generator) -> None:
    """Put back the RNG states that `capture_rng_state` collected."""
    random.setstate(_as_tuple(state["python"]))
    name, keys, position, has_gauss, cached_gauss = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), position, has_gauss, cached_gauss))
    torch.set_rng_state(state["torch"])
    loader_generator.set_state(state["loader"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _as_tuple(value: Any) -> Any:
    # random.setstate needs tuples; a round trip through some serializers turns them into lists.
    return tuple(_as_tuple(item) for item in value) if isinstance(value, (list, tuple)) else value


def save_checkpoint(directory: str | Path, state: dict[str, Any]) -> Path:
    """Write `state` to `directory/trial.pt` and return the file path."""
    path = Path(directory) / CHECKPOINT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"format_version": _FORMAT_VERSION, **state}, path)
    return path


def load_checkpoint(directory: str | Path) -> dict[str, Any]:
    """Read a checkpoint directory written by `save_checkpoint`.

    Raises:
        AblateError: When the directory has no readable checkpoint.
    """
    path = Path(directory) / CHECKPOINT_FILE
    if not path.is_file():
        raise AblateError(f"no checkpoint found: {path} does not exist; pass a directory written by a trial")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError) as exc:
        raise AblateError(f"cannot read checkpoint {path}: {exc}") from None
    if state.get("format_version") != _FORMAT_VERSION:
        raise AblateError(
            f"checkpoint {path} has format version {state.get('format_version')}, "
            f"this ablate reads version {_FORMAT_VERSION}"
        )
    return state
