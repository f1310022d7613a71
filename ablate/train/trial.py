"""`TrialConfig` and `run_trial`: one trial from a config, the unit of work of a sweep.

`run_trial(config, report, restore_from=...)` is handed unchanged to Ray Tune by the sweep. It
seeds every generator, loads the dataset onto the device, builds the network and runs `fit`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from ablate.data import DataConfig, load_dataset
from ablate.errors import ConfigError
from ablate.models import ModelConfig
from ablate.train.config import TrainConfig
from ablate.train.loop import Report, TrialResult, fit, resolve_device, seed_everything
from ablate.yamlio import LoadedYaml, apply_overrides, load_yaml, validate_section

__all__ = ["TrialConfig", "run_trial"]

# Keys that mark a YAML value as a sweep's search dimension rather than a fixed value.
_SEARCH_KEYS = frozenset({"grid", "choice", "uniform", "loguniform", "int"})
_SECTIONS = ("data", "model", "train")


class TrialConfig(BaseModel):
    """Everything that defines one trial.

    Attributes:
        data: Dataset and augmentation.
        model: Residual unit, depth and network options.
        train: Optimizer, schedule and device.
        seed: Seeds weight initialization, data order, augmentation and dropout.
    """

    model_config = ConfigDict(extra="forbid")

    data: DataConfig = DataConfig()
    model: ModelConfig
    train: TrainConfig = TrainConfig()
    seed: int = 0

    @classmethod
    def coerce(cls, config: TrialConfig | Mapping[str, Any]) -> TrialConfig:
        """Validate a mapping into a `TrialConfig`; a `TrialConfig` passes through.

        Raises:
            ConfigError: Naming the dotted key of the first invalid value.
        """
        if isinstance(config, TrialConfig):
            return config
        return validate_section(cls, dict(config))

    @classmethod
    def from_yaml(cls, path: str | Path, overrides: Sequence[str] = ()) -> TrialConfig:
        """Read the `data`, `model`, `train` and `seed` sections of a sweep YAML.

        Other top-level keys (`name`, `seeds`, `sampler`, ...) are ignored. Without a `seed`
        key, the first of `seeds` is used (0 for `seeds: N`). Every value must be fixed: a
        search dimension such as `{grid: [...]}` raises.

        Args:
            path: The YAML file.
            overrides: `key=value` strings applied first, as `--set` does.

        Raises:
            ConfigError: Located at the file, line and dotted key of the first problem.
        """
        loaded = apply_overrides(load_yaml(path), list(overrides))
        if not isinstance(loaded.data, dict):
            raise ConfigError("expected a mapping with data, model and train sections", source=loaded.source)
        document = {key: loaded.data[key] for key in _SECTIONS if key in loaded.data}
        for key in _SECTIONS:
            _reject_search_dimensions(loaded, document.get(key), key)
        document["seed"] = _seed_of(loaded)
        return validate_section(cls, document, loaded)


def _reject_search_dimensions(loaded: LoadedYaml, value: Any, key: str) -> None:
    if not isinstance(value, dict):
        return
    if len(value) == 1 and next(iter(value)) in _SEARCH_KEYS:
        raise loaded.error(
            key,
            f"is a search dimension ({next(iter(value))}: ...); ablate train needs a fixed value, "
            f"so set one with --set {key}=VALUE or run the file with ablate sweep",
        )
    for child, item in value.items():
        _reject_search_dimensions(loaded, item, f"{key}.{child}")


def _seed_of(loaded: LoadedYaml) -> Any:
    data = loaded.data
    if "seed" in data:
        return data["seed"]
    seeds = data.get("seeds")
    if isinstance(seeds, list) and seeds:
        return seeds[0]
    return 0


def run_trial(
    config: TrialConfig | Mapping[str, Any],
    report: Report | None = None,
    *,
    restore_from: str | Path | None = None,
) -> TrialResult:
    """Train and evaluate one network.

    Args:
        config: A `TrialConfig` or a mapping that validates into one.
        report: Called as `report(metrics, checkpoint_dir)` after every epoch. `metrics` contains
            `epoch`, `train_loss`, `train_error`, `val_loss` and `val_error` (with validation),
            `test_loss`, `test_error` (errors in percent), `lr`, `epoch_seconds`,
            `images_per_second`, `num_parameters`, `macs` and `status` (`running`, then
            `completed` or `diverged`). `checkpoint_dir` is deleted when `report` returns, so
            copy it there if it is needed later.
        restore_from: A checkpoint directory written by this trial; training continues from it
            exactly.

    Returns:
        The trial's status, history and final metrics.

    Raises:
        ConfigError: On an invalid config or missing dataset files.
    """
    from ablate.models import count_macs

    config = TrialConfig.coerce(config)
    device = resolve_device(config.train.device)
    splits = load_dataset(config.data, device)

    seed_everything(config.seed)
    model = config.model.build(num_classes=splits.num_classes, in_channels=splits.image_shape[0]).to(device)
    # count_macs runs one forward pass in eval mode, which changes no state and draws no numbers.
    macs = int(count_macs(model, input_size=splits.image_shape))

    return fit(
        model,
        splits,
        config.train,
        seed=config.seed,
        report=report,
        restore_from=restore_from,
        macs=macs,
        record=config.model_dump(mode="json", exclude={"train"}),
    )
