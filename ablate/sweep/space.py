"""Search dimensions of a sweep YAML and their expansion into planned trials.

Any leaf of the `data`, `model` and `train` sections may be a search dimension, written as a
one-key mapping:

    lr: {grid: [0.1, 0.01]}          every value runs (enumerated exactly)
    unit: {choice: [original, full_preactivation]}   the sampler picks one per trial
    lr: {uniform: [0.01, 0.2]}       float drawn by the sampler
    weight_decay: {loguniform: [1e-5, 1e-3]}
    depth: {int: [8, 20]}            integer drawn by the sampler (bounds inclusive)

Grouped grid: a grid entry may be a mapping, whose keys are set together under the dimension's key,
and the keys of an entry may be dotted paths below it. So a grid of whole model settings reads

    model:
      unit: full_preactivation
      grid:
        - {depth: 110, block: basic}
        - {depth: 164, block: bottleneck}

(`grid` beside ordinary keys is a grouped grid of that mapping), or `model: {grid: [...]}` with
no other keys. A top-level `grid:` list groups keys across sections, with entries such as
`{model.depth: 110, train.epochs: 10}`.

Planned trial count, the rule: cells x seeds x num_samples, where cells is the product of the
sizes of all grid dimensions (1 without grids). Grid cells and seeds are enumerated exactly:
every cell runs once per seed and per sample. `choice`, `uniform`, `loguniform` and `int` are
drawn by the sampler, once per trial. With `sampler: grid`, `choice` counts as a grid too, and
continuous dimensions are rejected.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ablate.yamlio import LoadedYaml

__all__ = [
    "DIMENSION_KINDS",
    "SECTIONS",
    "Dimension",
    "SearchSpace",
    "Slot",
    "apply_assignment",
    "find_dimensions",
    "value_label",
]

DIMENSION_KINDS = ("grid", "choice", "uniform", "loguniform", "int")
SECTIONS = ("data", "model", "train")
_SCALARS = (type(None), bool, int, float, str)


@dataclass(frozen=True)
class Dimension:
    """One search dimension.

    Attributes:
        path: Dotted key the dimension sets (`train.lr`, or `model` for a grouped grid).
        kind: One of `DIMENSION_KINDS`.
        values: The values of a `grid` or `choice`.
        low: Lower bound of `uniform`, `loguniform` and `int`.
        high: Upper bound (inclusive) of `uniform`, `loguniform` and `int`.
        yaml_key: Dotted key of the dimension's mapping in the YAML file, for error locations.
    """

    path: str
    kind: str
    values: tuple[Any, ...] = ()
    low: float | None = None
    high: float | None = None
    yaml_key: str = ""
    written_kind: str = ""

    @property
    def is_grid(self) -> bool:
        return self.kind == "grid"

    @property
    def param_name(self) -> str:
        return self.path

    def entry_key(self, index: int) -> str:
        """Return the dotted YAML key of the `index`-th value of a grid or choice."""
        kind = self.written_kind or self.kind
        return f"{self.yaml_key}.{kind}.{index}" if self.yaml_key else f"{kind}.{index}"

    def labels(self) -> tuple[Any, ...]:
        """Return Optuna-storable labels of the grid/choice values, one per value."""
        return tuple(value_label(value) for value in self.values)


@dataclass(frozen=True)
class Slot:
    """One planned trial: a grid cell, a seed, and a sample index.

    Attributes:
        cell: Index into `SearchSpace.cells()`.
        seed: The trial's seed.
        sample: 0-based sample index, below `num_samples`.
    """

    cell: int
    seed: int
    sample: int

    @property
    def key(self) -> str:
        return f"cell{self.cell}-seed{self.seed}-sample{self.sample}"


@dataclass
class SearchSpace:
    """The sweep's fixed base settings, its dimensions, seeds and sample count.

    Attributes:
        base: The `data`, `model` and `train` sections with every dimension removed.
        dimensions: Every dimension in file order; grids first in `cells()` order.
        seeds: The seeds, in order.
        num_samples: Trials per grid cell and seed.
    """

    base: dict[str, Any]
    dimensions: list[Dimension]
    seeds: list[int]
    num_samples: int = 1
    _cells: list[dict[str, Any]] | None = field(default=None, repr=False)

    @property
    def grid_dimensions(self) -> list[Dimension]:
        return [dim for dim in self.dimensions if dim.is_grid]

    @property
    def sampled_dimensions(self) -> list[Dimension]:
        return [dim for dim in self.dimensions if not dim.is_grid]

    def cells(self) -> list[dict[str, Any]]:
        """Return every grid cell as `{dimension path: value}`, in row-major file order."""
        if self._cells is None:
            grids = self.grid_dimensions
            self._cells = [
                {dim.path: value for dim, value in zip(grids, combo)}
                for combo in itertools.product(*(dim.values for dim in grids))
            ]
        return self._cells

    def slots(self) -> list[Slot]:
        """Return every planned trial; the order is cells, then seeds, then samples."""
        return [
            Slot(cell, seed, sample)
            for cell in range(len(self.cells()))
            for seed in self.seeds
            for sample in range(self.num_samples)
        ]

    @property
    def num_trials(self) -> int:
        return len(self.cells()) * len(self.seeds) * self.num_samples

    def trial_config(self, assignment: Mapping[str, Any], seed: int) -> dict[str, Any]:
        """Build a trial's plain config (data, model, train, seed) from dimension values."""
        config = apply_assignment(self.base, assignment)
        config["seed"] = seed
        return config


def value_label(value: Any) -> Any:
    """Return `value` if Optuna can store it as a categorical choice, else its compact JSON text."""
    if isinstance(value, _SCALARS):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def apply_assignment(base: Mapping[str, Any], assignment: Mapping[str, Any]) -> dict[str, Any]:
    """Return a deep copy of `base` with each `{dotted path: value}` set.

    A mapping value at a path is merged key by key (keys may be dotted paths below that path),
    which is how grouped grid entries set several keys together.
    """
    config = copy.deepcopy(dict(base))
    for path, value in assignment.items():
        if isinstance(value, Mapping):
            for sub_key, sub_value in value.items():
                _set_path(config, f"{path}.{sub_key}" if path else str(sub_key), copy.deepcopy(sub_value))
        else:
            _set_path(config, path, copy.deepcopy(value))
    return config


def _set_path(config: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    node = config
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _parse_dimension(kind: str, spec: Any, path: str, yaml_key: str, loaded: LoadedYaml) -> Dimension:
    key = f"{yaml_key}.{kind}" if yaml_key else kind
    if kind in ("grid", "choice"):
        if not isinstance(spec, list):
            raise loaded.error(key, f"{kind} must be a list of values, but got {spec!r}")
        if not spec:
            raise loaded.error(key, f"empty {kind}: list at least one value")
        labels = [value_label(value) for value in spec]
        duplicates = sorted({str(label) for label in labels if labels.count(label) > 1})
        if duplicates:
            raise loaded.error(key, f"{kind} lists {', '.join(duplicates)} more than once; remove the duplicates")
        return Dimension(path, kind, values=tuple(spec), yaml_key=yaml_key)

    accepted = "[low, high] with low < high"
    if not (isinstance(spec, list) and len(spec) == 2 and all(_is_number(bound) for bound in spec)):
        raise loaded.error(key, f"{kind} must be two numbers {accepted}, but got {spec!r}")
    low, high = spec
    if not low < high:
        raise loaded.error(key, f"{kind} bounds must satisfy low < high, but got {spec!r}")
    if kind == "loguniform" and low <= 0:
        raise loaded.error(key, f"loguniform bounds must be positive, but got {spec!r}")
    if kind == "int" and not (float(low).is_integer() and float(high).is_integer()):
        raise loaded.error(key, f"int bounds must be integers, but got {spec!r}")
    if kind == "int":
        low, high = int(low), int(high)
    return Dimension(path, kind, low=low, high=high, yaml_key=yaml_key)


def _dimension_keys(node: Mapping[str, Any]) -> list[str]:
    return [key for key in node if key in DIMENSION_KINDS]


def _walk(node: Any, path: str, yaml_key: str, loaded: LoadedYaml) -> Iterator[tuple[str, Any, Dimension | None]]:
    """Yield `(path, fixed value or None, dimension or None)` for each leaf below `node`."""
    if not isinstance(node, dict):
        yield path, node, None
        return
    kinds = _dimension_keys(node)
    others = [key for key in node if key not in DIMENSION_KINDS]
    if len(kinds) > 1:
        raise loaded.error(
            yaml_key, f"{' and '.join(kinds)} on one key; a key takes exactly one of {', '.join(DIMENSION_KINDS)}"
        )
    if kinds and not others:
        yield path, None, _parse_dimension(kinds[0], node[kinds[0]], path, yaml_key, loaded)
        return
    if kinds and kinds[0] != "grid":
        raise loaded.error(
            f"{yaml_key}.{kinds[0]}",
            f"{kinds[0]} beside other keys; only grid may group keys of a mapping, "
            f"write {kinds[0]} on a single key such as {yaml_key}.{others[0]}",
        )
    if kinds:
        dim = _parse_dimension("grid", node["grid"], path, yaml_key, loaded)
        for index, entry in enumerate(dim.values):
            if not isinstance(entry, dict) or not entry:
                raise loaded.error(
                    dim.entry_key(index),
                    f"a grid beside other keys groups settings, so each entry must be a mapping "
                    f"such as {{depth: 110, block: basic}}, but got {entry!r}",
                )
        yield path, None, dim
    for key in others:
        child_path = f"{path}.{key}" if path else key
        yield from _walk(node[key], child_path, f"{yaml_key}.{key}" if yaml_key else key, loaded)


def find_dimensions(
    sections: Mapping[str, Any], loaded: LoadedYaml, top_grid: list[Any] | None = None
) -> tuple[dict[str, Any], list[Dimension]]:
    """Split the `data`, `model` and `train` sections into fixed settings and dimensions.

    Args:
        sections: `{section name: mapping}` for the three sections.
        loaded: The document, for error locations.
        top_grid: The top-level `grid:` list (entries with dotted keys across sections), if any.

    Returns:
        The base config without dimensions and the dimensions in file order.

    Raises:
        ConfigError: On a malformed dimension, located at its key.
    """
    base: dict[str, Any] = {}
    dimensions: list[Dimension] = []
    for section in SECTIONS:
        node = sections.get(section) or {}
        base[section] = {}
        for path, value, dim in _walk(node, section, section, loaded):
            if dim is not None:
                dimensions.append(dim)
            elif path != section:
                _set_path(base, path, value)
    if top_grid is not None:
        dim = _parse_dimension("grid", top_grid, "", "", loaded)
        dim = Dimension("", "grid", values=dim.values, yaml_key="")
        for index, entry in enumerate(dim.values):
            if not isinstance(entry, dict) or not entry:
                raise loaded.error(f"grid.{index}", f"top-level grid entries must be mappings of dotted keys, but got {entry!r}")
            for key in entry:
                if str(key).split(".")[0] not in SECTIONS or "." not in str(key):
                    raise loaded.error(
                        f"grid.{index}.{key}",
                        f"top-level grid keys must be dotted keys under {', '.join(SECTIONS)}, such as model.depth",
                    )
        dimensions.append(dim)
    _check_overlaps(dimensions, base, loaded)
    return base, dimensions


def _set_keys(dim: Dimension) -> set[str]:
    """Return the dotted keys a dimension sets."""
    if dim.kind == "grid" and dim.values and all(isinstance(v, dict) for v in dim.values):
        prefix = f"{dim.path}." if dim.path else ""
        return {prefix + str(key) for entry in dim.values for key in entry}
    return {dim.path}


def _has_path(config: Mapping[str, Any], path: str) -> bool:
    node: Any = config
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True


def _check_overlaps(dimensions: list[Dimension], base: Mapping[str, Any], loaded: LoadedYaml) -> None:
    seen: dict[str, Dimension] = {}
    for dim in dimensions:
        for key in sorted(_set_keys(dim)):
            if dim.path != key and _has_path(base, key):
                raise loaded.error(key, f"{key} is fixed here and also set by the grid at {dim.yaml_key or 'grid'}; keep one")
            other = seen.get(key)
            if other is not None:
                raise loaded.error(
                    dim.yaml_key or "grid",
                    f"{key} is set by two search dimensions (also at {other.yaml_key or 'grid'}); keep one",
                )
            seen[key] = dim


def dimension_params(dim: Dimension, value: Any) -> dict[str, Any]:
    """Return the `{dotted key: value}` columns a dimension's value sets (groups expand)."""
    if isinstance(value, dict):
        prefix = f"{dim.path}." if dim.path else ""
        return {prefix + str(key): sub_value for key, sub_value in value.items()}
    return {dim.path: value}
