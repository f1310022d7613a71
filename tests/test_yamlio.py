"""Tests for YAML loading, line numbers, overrides and located validation errors."""

from __future__ import annotations

import pydantic
import pytest

from ablate.errors import ConfigError
from ablate.yamlio import apply_overrides, load_yaml, parse_yaml_text, validate_section


class _Train(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    lr: float = 0.1
    weight_decay: float = 1e-4
    epochs: int = 10


class _Doc(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    name: str
    train: _Train = _Train()


def test_exponent_without_dot_is_float():
    loaded = parse_yaml_text("lr: 1e-4\nweight_decay: 5E-4\nother: 1.5e3\nword: e5\n")
    assert loaded.data == {"lr": 1e-4, "weight_decay": 5e-4, "other": 1500.0, "word": "e5"}
    assert isinstance(loaded.data["lr"], float)


def test_lines_of_dotted_keys():
    loaded = parse_yaml_text("name: a\ntrain:\n  lr: 0.1\n  grid:\n    - 1\n    - 2\n")
    assert loaded.lines["name"] == 1
    assert loaded.lines["train.lr"] == 3
    assert loaded.lines["train.grid.1"] == 6
    assert loaded.line_of("train.lr.missing") == 3


def test_duplicate_key_rejected():
    with pytest.raises(ConfigError, match=r"<string>:3: train.lr: duplicate key"):
        parse_yaml_text("train:\n  lr: 0.1\n  lr: 0.2\n")


def test_syntax_error_has_line():
    with pytest.raises(ConfigError, match=r"<string>:2: invalid YAML"):
        parse_yaml_text("a: [1, 2\nb: 3\n")


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_yaml(tmp_path / "nope.yaml")


def test_overrides_parse_values():
    loaded = parse_yaml_text("train:\n  lr: 0.1\n")
    apply_overrides(loaded, ["train.lr=1e-3", "train.epochs=5", "name=x"])
    assert loaded.data == {"train": {"lr": 1e-3, "epochs": 5}, "name": "x"}


def test_override_without_equals():
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        apply_overrides(parse_yaml_text("a: 1\n"), ["train.lr"])


def test_unknown_key_suggests_and_locates():
    loaded = parse_yaml_text("name: a\ntrain:\n  lrr: 0.1\n")
    with pytest.raises(ConfigError) as info:
        validate_section(_Doc, loaded.data, loaded)
    message = str(info.value)
    assert message.startswith("<string>:3: train.lrr: unknown key; did you mean 'lr'?")
    assert "Accepted keys: epochs, lr, weight_decay" in message


def test_wrong_type_shows_value():
    loaded = parse_yaml_text("name: a\ntrain:\n  lr: abc\n")
    with pytest.raises(ConfigError, match=r"<string>:3: train.lr: .*\(got 'abc'\)"):
        validate_section(_Doc, loaded.data, loaded)


def test_missing_key():
    loaded = parse_yaml_text("train:\n  lr: 0.1\n")
    with pytest.raises(ConfigError, match="name: missing required key"):
        validate_section(_Doc, loaded.data, loaded)
