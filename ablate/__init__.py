"""ablate: ablation sweeps and architecture search over residual-unit designs.

The public API is imported lazily, so `import ablate` does not import torch, ray or plotly.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# Public name -> module that defines it.
_EXPORTS = {
    "AblateError": "ablate.errors",
    "ConfigError": "ablate.errors",
    "SpecError": "ablate.errors",
    # ablate.grammar and ablate.models: unit specs, presets, networks and their counts
    "UnitSpec": "ablate.grammar",
    "parse_unit": "ablate.grammar",
    "list_presets": "ablate.grammar",
    "preset": "ablate.grammar",
    "resolve_unit": "ablate.grammar",
    "enumerate_units": "ablate.grammar",
    "ModelConfig": "ablate.models",
    "build_model": "ablate.models",
    "count_parameters": "ablate.models",
    "count_weighted_layers": "ablate.models",
    "count_macs": "ablate.models",
    # ablate.sweep
    "load_sweep": "ablate.sweep",
    "run_sweep": "ablate.sweep",
    "SweepPlan": "ablate.sweep",
    # ablate.results and ablate.dashboard
    "Results": "ablate.results",
    "ResultsWriter": "ablate.results",
    "load_results": "ablate.results",
    "write_dashboard": "ablate.dashboard",
    # ablate.probe: signal and gradient propagation at initialization
    "probe_network": "ablate.probe",
    "probe_unit": "ablate.probe",
    "probe_config": "ablate.probe",
    # ablate.data and ablate.train: datasets, the device loader and one trial
    "DataConfig": "ablate.data",
    "load_dataset": "ablate.data",
    "list_datasets": "ablate.data",
    "register_dataset": "ablate.data",
    "TrainConfig": "ablate.train",
    "TrialConfig": "ablate.train",
    "TrialResult": "ablate.train",
    "run_trial": "ablate.train",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ablate' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
