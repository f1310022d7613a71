"""YAML loading with line numbers, `--set` overrides, and pydantic errors as `ConfigError`.

Kept free of torch and ray so that validating a file is fast and happens before anything starts.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

from ablate.errors import ConfigError

__all__ = ["LoadedYaml", "apply_overrides", "load_yaml", "parse_yaml_text", "validate_section"]

T = TypeVar("T")

# PyYAML follows YAML 1.1, where "1e-4" (no dot) is a string. YAML 1.2 and every user read it as a
# number, so the float resolver is replaced by one that accepts exponents without a dot.
_FLOAT_PATTERN = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+][0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)


class _Loader(yaml.SafeLoader):
    pass


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:float"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_PATTERN, list("-+0123456789."))


class LoadedYaml:
    """A parsed YAML document with the line of every dotted key.

    Attributes:
        data: The plain Python value (dicts, lists, scalars).
        lines: 1-based line of each dotted key (`train.lr`, `model.depth.grid.0`).
        source: File name used in messages.
    """

    def __init__(self, data: Any, lines: dict[str, int], source: str):
        self.data = data
        self.lines = lines
        self.source = source

    def line_of(self, key: str) -> int | None:
        """Return the line of `key`, or of its nearest enclosing key that has one."""
        parts = key.split(".") if key else []
        while parts:
            dotted = ".".join(parts)
            if dotted in self.lines:
                return self.lines[dotted]
            parts.pop()
        return self.lines.get("")

    def error(self, key: str, message: str) -> ConfigError:
        """Build a `ConfigError` located at `key`."""
        return ConfigError(message, source=self.source, line=self.line_of(key), key=key or None)


def _build(node: yaml.Node, loader: _Loader, path: str, lines: dict[str, int], source: str) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)):
                raise ConfigError(
                    "mapping keys must be plain scalars", source=source, line=key_node.start_mark.line + 1
                )
            key = str(key)
            child = f"{path}.{key}" if path else key
            if key in result:
                raise ConfigError(
                    "duplicate key; remove one of the two entries",
                    source=source,
                    line=key_node.start_mark.line + 1,
                    key=child,
                )
            lines[child] = key_node.start_mark.line + 1
            result[key] = _build(value_node, loader, child, lines, source)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _build(item, loader, f"{path}.{index}" if path else str(index), lines, source)
            for index, item in enumerate(node.value)
        ]
    return loader.construct_object(node, deep=True)


def parse_yaml_text(text: str, source: str = "<string>") -> LoadedYaml:
    """Parse YAML text into plain values and a dotted-key line table.

    Raises:
        ConfigError: On a YAML syntax error or a duplicate key.
    """
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        lines: dict[str, int] = {}
        data = None if node is None else _build(node, loader, "", lines, source)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(f"invalid YAML: {exc.problem or exc.context}", source=source, line=line) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", source=source) from None
    finally:
        loader.dispose()
    return LoadedYaml(data, lines, source)


def load_yaml(path: str | Path) -> LoadedYaml:
    """Read and parse a YAML file.

    Raises:
        ConfigError: When the file is missing, unreadable, or not valid YAML.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("file not found; check the path", source=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the file: {exc}", source=str(path)) from None
    return parse_yaml_text(text, str(path))


def apply_overrides(loaded: LoadedYaml, overrides: Sequence[str]) -> LoadedYaml:
    """Apply `key.path=value` overrides in place; each value is parsed as YAML (`1e-3` is a float).

    Raises:
        ConfigError: When an override is not of the form `key=value` or its path crosses a
            non-mapping value.
    """
    if loaded.data is None:
        loaded.data = {}
    for override in overrides:
        key, sep, raw = override.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"invalid --set {override!r}: expected KEY=VALUE, for example train.lr=0.05")
        value = parse_yaml_text(raw, f"--set {key}").data
        node = loaded.data
        parts = key.split(".")
        for depth, part in enumerate(parts[:-1]):
            if not isinstance(node, dict):
                prefix = ".".join(parts[:depth])
                raise ConfigError(f"invalid --set {override!r}: {prefix} is not a mapping")
            node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"invalid --set {override!r}: {'.'.join(parts[:-1])} is not a mapping")
        node[parts[-1]] = value
        loaded.lines[key] = None  # type: ignore[assignment]
    return loaded


def _suggest(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else "."


def _allowed_fields(model: Any, loc: tuple[Any, ...]) -> list[str]:
    """Walk pydantic model fields along `loc` and return the field names at its parent."""
    current = model
    for part in loc[:-1]:
        fields = getattr(current, "model_fields", None)
        if fields is None or part not in fields:
            return []
        annotation = fields[part].annotation
        current = next(
            (arg for arg in getattr(annotation, "__args__", (annotation,)) if hasattr(arg, "model_fields")),
            annotation,
        )
    fields = getattr(current, "model_fields", None)
    return sorted(fields) if fields else []


def validate_section(model: type[T], data: Any, loaded: LoadedYaml | None = None, prefix: str = "") -> T:
    """Validate `data` with a pydantic model and turn the first error into a located `ConfigError`.

    Args:
        model: The pydantic model class.
        data: The plain value to validate.
        loaded: The document `data` came from, for line numbers; None for values built in code.
        prefix: Dotted key of `data` inside the document (`"train"`).
    """
    import pydantic

    try:
        return model.model_validate(data)  # type: ignore[attr-defined]
    except pydantic.ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        loc = tuple(part for part in error["loc"] if not (isinstance(part, str) and part.startswith("function-")))
        key = ".".join(([prefix] if prefix else []) + [str(part) for part in loc])
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            allowed = _allowed_fields(model, loc)
            message = f"unknown key{_suggest(str(loc[-1]), allowed)} Accepted keys: {', '.join(allowed)}"
        elif error["type"] == "missing":
            message = "missing required key"
        else:
            message = message.removeprefix("Value error, ")
            if str(error.get("input")) not in message:
                message = f"{message} (got {error.get('input')!r})"
        if loaded is not None:
            raise loaded.error(key, message) from None
        raise ConfigError(message, key=key) from None
