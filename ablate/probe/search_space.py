"""The model cells of a search-space YAML file, for probing each network it would train.

NOTE: a minimal expansion of `{grid: [...]}` and `{choice: [...]}` values in the `model` section,
written before the sweep's own expansion existed; it should give way to that one. A grid entry that
is a mapping sets its keys together (`{depth: 164, block: bottleneck}`). Continuous dimensions
(`uniform`, `loguniform`, `int`) have no finite set of cells and are rejected here.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ablate.errors import ConfigError
from ablate.yamlio import load_yaml, validate_section

__all__ = ["ModelCell", "model_cells"]

_FINITE_DIMENSIONS = ("grid", "choice")
_CONTINUOUS_DIMENSIONS = ("uniform", "loguniform", "int")


@dataclass(frozen=True)
class ModelCell:
    """One network of a search space.

    Attributes:
        label: Preset name or canonical unit text, followed by the other searched model keys.
        model: The validated `ablate.models.ModelConfig`.
    """

    label: str
    model: Any


def _dimension_values(key: str, value: Any, loaded) -> list[Any] | None:
    """Return the values of a searched model key, or None when the key has a fixed value."""
    if not isinstance(value, dict) or len(value) != 1:
        return None
    (kind, values), = value.items()
    if kind in _CONTINUOUS_DIMENSIONS:
        raise loaded.error(
            f"model.{key}.{kind}",
            f"ablate probe cannot enumerate a {kind} dimension; give model.{key} a grid or choice list",
        )
    if kind not in _FINITE_DIMENSIONS:
        return None
    if not isinstance(values, list) or not values:
        raise loaded.error(f"model.{key}.{kind}", f"{kind} must be a non-empty list (got {values!r})")
    return values


def model_cells(path: str | Path) -> tuple[list[ModelCell], Any, str]:
    """Expand the `model` section of a search-space file into one validated cell per network.

    Returns:
        The cells, the validated `ablate.data.DataConfig` and the search space's name.

    Raises:
        ConfigError: When the file, its `model` section or a cell is invalid, located by line.
    """
    from ablate.models import ModelConfig

    loaded = load_yaml(path)
    document = loaded.data
    if not isinstance(document, dict) or not isinstance(document.get("model"), dict):
        raise loaded.error("model", "missing model section; a search space needs model.unit and model.depth")
    data = _data_section(document.get("data"), loaded)
    fixed: dict[str, Any] = {}
    searched: dict[str, list[Any]] = {}
    for key, value in document["model"].items():
        values = _dimension_values(key, value, loaded)
        if values is None:
            fixed[key] = value
        else:
            searched[key] = values

    cells = []
    for combination in itertools.product(*searched.values()):
        settings = dict(fixed)
        varied: list[str] = []
        for key, value in zip(searched, combination):
            entries = value if isinstance(value, dict) else {key: value}
            settings.update(entries)
            varied.extend(f"{name}={entry}" for name, entry in entries.items() if name != "unit")
        model = validate_section(ModelConfig, settings, loaded, prefix="model")
        cells.append(ModelCell(label=_label(model, varied), model=model))
    _check_unique(cells, loaded)
    name = document.get("name") or Path(path).stem
    return cells, data, str(name)


def _data_section(section: Any, loaded) -> Any:
    from ablate.data import DataConfig

    section = section or {}
    if not isinstance(section, dict):
        raise loaded.error("data", f"data must be a mapping (got {section!r})")
    for key, value in section.items():
        if isinstance(value, dict) and len(value) == 1 and next(iter(value)) in _FINITE_DIMENSIONS + _CONTINUOUS_DIMENSIONS:
            raise loaded.error(f"data.{key}", "ablate probe takes fixed data settings; remove the search dimension")
    return validate_section(DataConfig, section, loaded, prefix="data")


def _label(model: Any, varied: list[str]) -> str:
    from ablate.grammar import resolve_unit

    spec, preset_name = resolve_unit(model.unit, block=model.block)
    return " ".join([preset_name or str(spec), *varied])


def _check_unique(cells: list[ModelCell], loaded) -> None:
    labels = [cell.label for cell in cells]
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        raise ConfigError(f"the model grid repeats the variant {duplicates[0]!r}; remove the duplicate", source=loaded.source)
