"""Probe every network of a sweep's search space, as planned by `ablate.sweep.load_sweep`.

Only the model and data settings shape a probe, so grid cells that differ in training settings
alone share one probe. Dimensions that a sampler draws (`choice`, `uniform`, ...) take the value the
sweep's validation uses for its planned trial configurations: the first choice or the lower bound.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ablate.probe.variants import ProbeSummary, probe_model_config

__all__ = ["network_key", "probe_sweep"]


def network_key(trial: Any) -> str:
    """Return the key of a trial config's network: its model and data settings, which alone shape a probe."""
    return trial.model.model_dump_json() + trial.data.model_dump_json()


def _model_settings(trial: Any) -> dict[str, Any]:
    return trial.model.model_dump(mode="json")


def _labels(trials: list[Any]) -> list[str]:
    """Label each trial by its unit (preset name or canonical text) and the model keys that vary."""
    from ablate.grammar import resolve_unit

    settings = [_model_settings(trial) for trial in trials]
    varying = [key for key in settings[0] if key != "unit" and len({repr(s[key]) for s in settings}) > 1]
    data_varies = len({trial.data.model_dump_json() for trial in trials}) > 1
    labels = []
    for trial, model in zip(trials, settings):
        spec, preset_name = resolve_unit(trial.model.unit, block=trial.model.block)
        parts = [preset_name or str(spec), *(f"{key}={model[key]}" for key in varying)]
        if data_varies:
            parts.append(f"data={trial.data.dataset}")
        labels.append(" ".join(parts))
    return labels


def probe_sweep(
    plan: Any, seeds: int | Sequence[int] = 3, *, batch_size: int = 128, device: str = "cpu"
) -> list[ProbeSummary]:
    """Probe each distinct network of a sweep plan over several seeds.

    Args:
        plan: An `ablate.sweep.SweepPlan` from `ablate.sweep.load_sweep`.
        seeds: Number of seeds (0 to K-1) or the seeds themselves.
        batch_size: Images per probe batch.
        device: Torch device to probe on.

    Returns:
        One summary per distinct (model, data) configuration, in grid order.
    """
    distinct: dict[str, Any] = {}
    for trial in plan.trial_configs:
        distinct.setdefault(network_key(trial), trial)
    trials = list(distinct.values())
    return [
        probe_model_config(trial.model, data=trial.data, seeds=seeds, batch_size=batch_size, device=device, label=label)
        for trial, label in zip(trials, _labels(trials))
    ]
