"""Sweeps: the YAML schema, search-space expansion, the Optuna<->Ray bridge, the runner and resume.

`load_sweep` validates a sweep file into a `SweepPlan` without starting anything; `run_sweep`
runs it on Ray Tune. Importing this package imports neither ray nor torch; the runner and bridge
modules do.
"""

from __future__ import annotations

from ablate.sweep.schema import SweepConfig, SweepPlan, load_sweep
from ablate.sweep.space import Dimension, SearchSpace, Slot

__all__ = ["Dimension", "SearchSpace", "Slot", "SweepConfig", "SweepPlan", "load_sweep", "run_sweep"]


def run_sweep(*args, **kwargs):  # type: ignore[no-untyped-def]
    """Run a sweep; see `ablate.sweep.runner.run_sweep` (imported here lazily, it imports ray)."""
    from ablate.sweep.runner import run_sweep as run

    return run(*args, **kwargs)
