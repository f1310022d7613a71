"""The sweep YAML schema and its validation into a `SweepPlan`.

A sweep file holds the trial settings (`data`, `model`, `train`, any leaf of which may be a search
dimension, see `ablate.sweep.space`) and the sweep-only keys below. `load_sweep` validates all of
it, including every grid and choice value as a trial config, so that a bad file stops before
Ray starts. Errors name the file, the line and the dotted key.
"""

from __future__ import annotations

import inspect
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ablate.errors import ConfigError
from ablate.sweep.space import Dimension, SearchSpace, find_dimensions
from ablate.yamlio import LoadedYaml, apply_overrides, load_yaml, validate_section

__all__ = [
    "OBJECTIVE_METRICS",
    "PRUNERS",
    "SAMPLERS",
    "SweepConfig",
    "SweepPlan",
    "load_sweep",
    "plan_from_loaded",
]

SAMPLERS = ("grid", "tpe", "random", "cmaes", "gp")
PRUNERS = ("none", "median", "percentile", "successive_halving", "hyperband", "wilcoxon", "patient")
# Metrics the trainer reports every epoch that can serve as an objective; val_* need a held-out split.
OBJECTIVE_METRICS = ("test_error", "test_loss", "train_error", "train_loss", "val_error", "val_loss")
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ObjectiveConfig(_Strict):
    """The metric the sampler optimizes and the pruner reads, and its direction."""

    metric: str = "test_error"
    mode: Literal["min", "max"] = "min"


class SamplerConfig(_Strict):
    """The Optuna sampler: `name`, its `seed`, and keyword `options` for its constructor."""

    name: Literal["grid", "tpe", "random", "cmaes", "gp"] = "tpe"
    seed: int | None = 0
    options: dict[str, Any] = Field(default_factory=dict)


class PrunerConfig(_Strict):
    """The Optuna pruner: `name` and keyword `options` for its constructor.

    `patient` wraps another pruner given as `options.wrapped: {name, options}` (default none).
    """

    name: Literal["none", "median", "percentile", "successive_halving", "hyperband", "wilcoxon", "patient"] = (
        "none"
    )
    options: dict[str, Any] = Field(default_factory=dict)


class ResourcesConfig(_Strict):
    """Resources of one trial; fractional GPUs let several trials share one device."""

    cpu: float = Field(default=1.0, gt=0)
    gpu: float = Field(default=0.0, ge=0, le=1)


class RayConfig(_Strict):
    """Where Ray runs: `address` of a cluster to join, or None to start a local instance."""

    address: str | None = None


class SweepConfig(_Strict):
    """The sweep-level keys of a sweep YAML; `data`, `model` and `train` stay plain mappings here."""

    name: str
    description: str = ""
    reference: Literal["he2016_table1", "he2016_table2", "he2016_table3"] | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    model: dict[str, Any] = Field(default_factory=dict)
    train: dict[str, Any] = Field(default_factory=dict)
    grid: list[Any] | None = None
    seeds: int | list[int] = 1
    objective: ObjectiveConfig = Field(default_factory=ObjectiveConfig)
    sampler: SamplerConfig = Field(default_factory=SamplerConfig)
    pruner: PrunerConfig = Field(default_factory=PrunerConfig)
    num_samples: int = Field(default=1, ge=1)
    resources: ResourcesConfig = Field(default_factory=ResourcesConfig)
    max_concurrent_trials: int | None = Field(default=None, ge=1)
    ray: RayConfig = Field(default_factory=RayConfig)
    storage: str | None = None
    results_dir: str = "results"
    probe: bool = False

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not _NAME_PATTERN.match(value):
            raise ValueError("name must be letters, digits, '_', '.' or '-' (it names the results folder)")
        return value

    @field_validator("seeds")
    @classmethod
    def _check_seeds(cls, value: int | list[int]) -> int | list[int]:
        if isinstance(value, int) and value < 1:
            raise ValueError("seeds must be a count >= 1 or a list of seeds")
        if isinstance(value, list) and (not value or len(set(value)) != len(value)):
            raise ValueError("seeds must be a non-empty list without duplicates")
        return value

    def seed_list(self) -> list[int]:
        return list(range(self.seeds)) if isinstance(self.seeds, int) else list(self.seeds)


@dataclass
class SweepPlan:
    """A validated sweep: its config, search space, resolved document and derived paths.

    Attributes:
        config: The sweep-level settings.
        space: Base settings, dimensions, seeds and sample count.
        document: The resolved YAML document (after `--set` overrides), as stored in `config.yaml`.
        source: The YAML file name, for messages.
        max_epochs: The largest epoch count of any trial, or None when unknown.
        trial_configs: One validated trial config per grid cell (seed 0, first sampled values).
    """

    config: SweepConfig
    space: SearchSpace
    document: dict[str, Any]
    source: str
    max_epochs: int | None = None
    trial_configs: list[Any] | None = None

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def results_dir(self) -> Path:
        return (Path(self.config.results_dir) / self.config.name).resolve()

    @property
    def ray_dir(self) -> Path:
        return self.results_dir / "ray"

    @property
    def storage_url(self) -> str:
        return self.config.storage or f"sqlite:///{self.results_dir / 'study.db'}"

    @property
    def num_trials(self) -> int:
        return self.space.num_trials


def load_sweep(
    path: str | Path,
    overrides: Sequence[str] = (),
    *,
    validate_trial: Callable[[dict[str, Any], LoadedYaml, str], Any] | None = None,
) -> SweepPlan:
    """Read, override and validate a sweep YAML file.

    Args:
        path: The sweep YAML file.
        overrides: `key.path=value` strings applied before validation.
        validate_trial: Validates one trial's plain config `(config, loaded, key prefix)` and
            returns the typed config; default: `ablate.train.TrialConfig`.

    Raises:
        ConfigError: On any invalid key or value, located in the file.
    """
    loaded = load_yaml(path)
    _check_top_level(loaded)
    return plan_from_loaded(apply_overrides(loaded, overrides), validate_trial=validate_trial)


def _check_top_level(loaded: LoadedYaml) -> None:
    if not isinstance(loaded.data, dict):
        got = "an empty file" if loaded.data is None else type(loaded.data).__name__
        raise loaded.error("", f"the top level must be a mapping of sweep keys (name, model, ...), but got {got}")


def plan_from_loaded(
    loaded: LoadedYaml,
    *,
    validate_trial: Callable[[dict[str, Any], LoadedYaml, str], Any] | None = None,
) -> SweepPlan:
    """Validate a parsed sweep document; see `load_sweep`."""
    _check_top_level(loaded)
    config = validate_section(SweepConfig, loaded.data, loaded)
    base, dimensions = find_dimensions(
        {"data": config.data, "model": config.model, "train": config.train}, loaded, config.grid
    )
    dimensions = _apply_sampler_kind(dimensions, config, loaded)
    space = SearchSpace(base, dimensions, config.seed_list(), config.num_samples)
    _check_resources(config, loaded)
    build_sampler(config.sampler, loaded)
    build_pruner(config.pruner, loaded)
    plan = SweepPlan(config, space, loaded.data, loaded.source)

    validate = validate_trial or _validate_trial_config
    plan.trial_configs = _validate_space(space, loaded, validate)
    _check_objective(config, plan.trial_configs, loaded)
    epochs = [_epochs_of(trial) for trial in plan.trial_configs]
    plan.max_epochs = max(epochs) if epochs and all(e is not None for e in epochs) else None
    return plan


def _apply_sampler_kind(dimensions: list[Dimension], config: SweepConfig, loaded: LoadedYaml) -> list[Dimension]:
    if config.sampler.name != "grid":
        return dimensions
    result = []
    for dim in dimensions:
        if dim.kind in ("uniform", "loguniform", "int"):
            raise loaded.error(
                f"{dim.yaml_key}.{dim.kind}",
                f"sampler grid enumerates values and cannot draw from {dim.kind}; "
                "write the values as a grid or choose sampler tpe, random, cmaes or gp",
            )
        if dim.kind == "choice":
            dim = Dimension(dim.path, "grid", dim.values, yaml_key=dim.yaml_key, written_kind="choice")
        result.append(dim)
    return result


def _check_resources(config: SweepConfig, loaded: LoadedYaml) -> None:
    gpu = config.resources.gpu
    if 0 < gpu < 1 and not math.isclose(1 / gpu, round(1 / gpu)):
        # Not an error: Ray packs trials by fractions, so 0.3 fits 3 trials per GPU and wastes 0.1.
        import logging

        logging.getLogger(__name__).warning(
            "resources.gpu %s does not divide one GPU evenly: %d trials fit per GPU, %.2f of it stays idle",
            gpu,
            int(1 / gpu),
            1 - int(1 / gpu) * gpu,
        )


# ----- Optuna samplers and pruners -----


def _construct(factory: Callable[..., Any], options: Mapping[str, Any], loaded: LoadedYaml | None, key: str) -> Any:
    accepted = [name for name in inspect.signature(factory).parameters if name not in ("self", "seed")]
    for option in options:
        if option not in accepted:
            import difflib

            close = difflib.get_close_matches(option, accepted, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else "."
            if option == "seed":
                hint = "; set the seed with the seed key beside name and options."
            message = f"unknown option {option!r}{hint} Accepted options: {', '.join(accepted) or 'none'}"
            raise (loaded.error(f"{key}.{option}", message) if loaded else ConfigError(message, key=key))
    try:
        return factory(**options)
    except ImportError as exc:
        message = f"needs a package that is not installed: {exc}"
        raise (loaded.error(key, message) if loaded else ConfigError(message, key=key)) from None
    except (TypeError, ValueError) as exc:
        message = f"invalid options {dict(options)!r}: {exc}"
        raise (loaded.error(key, message) if loaded else ConfigError(message, key=key)) from None


def build_sampler(config: SamplerConfig, loaded: LoadedYaml | None = None) -> Any:
    """Construct the Optuna sampler named by `config`.

    `grid` uses Optuna's RandomSampler: every value of a grid sweep is fixed per trial, so the
    sampler is never asked for a value.
    """
    import functools

    import optuna

    factories = {
        "grid": optuna.samplers.RandomSampler,
        "tpe": optuna.samplers.TPESampler,
        "random": optuna.samplers.RandomSampler,
        "cmaes": optuna.samplers.CmaEsSampler,
        "gp": optuna.samplers.GPSampler,
    }
    factory = factories[config.name]
    wrapped = functools.wraps(factory)(functools.partial(factory, seed=config.seed))
    wrapped.__signature__ = inspect.signature(factory)  # type: ignore[attr-defined]
    return _construct(wrapped, config.options, loaded, "sampler.options")


def build_pruner(config: PrunerConfig, loaded: LoadedYaml | None = None, key: str = "pruner") -> Any:
    """Construct the Optuna pruner named by `config`; Optuna's classes are used unchanged."""
    import optuna

    factories = {
        "none": optuna.pruners.NopPruner,
        "median": optuna.pruners.MedianPruner,
        "percentile": optuna.pruners.PercentilePruner,
        "successive_halving": optuna.pruners.SuccessiveHalvingPruner,
        "hyperband": optuna.pruners.HyperbandPruner,
        "wilcoxon": optuna.pruners.WilcoxonPruner,
        "patient": optuna.pruners.PatientPruner,
    }
    options = dict(config.options)
    if config.name == "patient":
        wrapped = options.pop("wrapped", None) or {"name": "none"}
        if isinstance(wrapped, str):
            wrapped = {"name": wrapped}
        inner = validate_section(PrunerConfig, wrapped, loaded, prefix=f"{key}.options.wrapped")
        if inner.name == "patient":
            raise ConfigError("patient cannot wrap itself; wrap median, percentile, ...", key=f"{key}.options.wrapped")
        options["wrapped_pruner"] = build_pruner(inner, loaded, key=f"{key}.options.wrapped")
    return _construct(factories[config.name], options, loaded, f"{key}.options")


# ----- trial configs -----


def _validate_trial_config(config: dict[str, Any], loaded: LoadedYaml, prefix: str) -> Any:
    from ablate.train import TrialConfig

    trial = validate_section(TrialConfig, config, loaded)
    root = trial.data.root
    if root is not None and not trial.data.download and not Path(root).expanduser().exists():
        # NOTE: checked on the driver; on a cluster the workers need the same path.
        raise loaded.error(
            "data.root", f"data root {root!r} not found; fix the path or set data.download: true"
        )
    return trial


def _representatives(dim: Dimension) -> list[Any]:
    if dim.kind in ("grid", "choice"):
        return list(dim.values)
    if dim.kind == "int":
        return [int(dim.low), int(dim.high)]  # type: ignore[arg-type]
    return [dim.low, dim.high]


def _validate_one(
    space: SearchSpace,
    assignment: dict[str, Any],
    loaded: LoadedYaml,
    validate: Callable,
    where: str | None,
    dim_path: str | None = None,
) -> Any:
    config = space.trial_config(assignment, space.seeds[0])
    try:
        return validate(config, loaded, "")
    except ConfigError as exc:
        own_key = exc.key is not None and dim_path is not None and not _key_under(exc.key, dim_path)
        if where is not None and not own_key:
            raise loaded.error(where, f"{exc.key}: {exc.detail}" if exc.key else exc.detail) from None
        if own_key or not assignment:
            # The error lies in a fixed value, not in the dimension being checked, so it is
            # located at its own key.
            if exc.line is None and exc.key:
                raise loaded.error(exc.key, exc.detail) from None
            raise
        cell = ", ".join(f"{path or 'grid'}={value!r}" for path, value in assignment.items())
        raise ConfigError(f"{exc.detail} (in the grid cell {cell})", source=exc.source, line=exc.line, key=exc.key) from None


def _key_under(key: str, path: str) -> bool:
    """Return whether dotted `key` is `path` or lies below it. An empty path (top-level grid) contains every key."""
    return not path or key == path or key.startswith(path + ".")


def _validate_space(space: SearchSpace, loaded: LoadedYaml, validate: Callable) -> list[Any]:
    """Validate each value of every dimension, then one trial config per grid cell.

    Values are checked one at a time first, so that an error points at the entry that causes it.
    """
    sampled_defaults = {dim.path: _representatives(dim)[0] for dim in space.sampled_dimensions}
    first_cell = space.cells()[0]
    for dim in space.dimensions:
        for index, value in enumerate(_representatives(dim)):
            assignment = {**first_cell, **sampled_defaults, dim.path: value}
            if dim.kind in ("grid", "choice"):
                where = dim.entry_key(index)
            else:
                where = f"{dim.yaml_key}.{dim.kind}"
            _validate_one(space, assignment, loaded, validate, where, dim.path)
    return [_validate_one(space, {**cell, **sampled_defaults}, loaded, validate, None) for cell in space.cells()]


def _check_objective(config: SweepConfig, trial_configs: list[Any], loaded: LoadedYaml) -> None:
    metric = config.objective.metric
    if metric not in OBJECTIVE_METRICS:
        import difflib

        close = difflib.get_close_matches(metric, OBJECTIVE_METRICS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else "."
        raise loaded.error(
            "objective.metric",
            f"the trainer never reports {metric!r}{hint} Accepted metrics: {', '.join(OBJECTIVE_METRICS)}",
        )
    if metric.startswith("val_"):
        for trial in trial_configs:
            data = getattr(trial, "data", None)
            if data is not None and not getattr(data, "validation", 0):
                raise loaded.error(
                    "objective.metric",
                    f"the trainer reports {metric} only with a held-out split; set data.validation "
                    "to a fraction such as 0.1, or use test_error",
                )


def _epochs_of(trial: Any) -> int | None:
    """Return a trial's epoch count, or None when it depends on the dataset size (`he2016`)."""
    train = getattr(trial, "train", None)
    epochs = getattr(train, "epochs", None)
    if isinstance(epochs, int):
        return epochs
    if getattr(train, "protocol", None) is None and hasattr(train, "resolve"):
        # Without a protocol the epoch count does not depend on the training-set size.
        return train.resolve(1).epochs
    return None
