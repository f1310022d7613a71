"""Tests of the block-spec grammar: parsing, canonical text, presets, errors and enumeration."""

from __future__ import annotations

import pytest

from ablate.errors import AblateError, SpecError
from ablate.grammar import enumerate_units, list_presets, parse_unit, preset, resolve_unit

PRESETS = list_presets()
PRESET_IDS = [f"{p.name}-{p.block}" for p in PRESETS]

# Every unit of He et al. 2016 as written in the grammar's documentation table.
PAPER_UNITS = {
    ("original", "basic"): "conv-bn-relu-conv-bn + id -> relu",
    ("bn_after_addition", "basic"): "conv-bn-relu-conv + id -> bn-relu",
    ("relu_before_addition", "basic"): "conv-bn-relu-conv-bn-relu + id",
    ("relu_only_preactivation", "basic"): "relu-conv-bn-relu-conv-bn + id",
    ("full_preactivation", "basic"): "bn-relu-conv-bn-relu-conv + id",
    ("constant_scaling", "basic"): "conv-bn-relu-conv-bn*0.5 + id*0.5 -> relu",
    ("constant_scaling_shortcut_only", "basic"): "conv-bn-relu-conv-bn + id*0.5 -> relu",
    ("exclusive_gating", "basic"): "conv-bn-relu-conv-bn +gate(-6) id -> relu",
    ("shortcut_only_gating", "basic"): "conv-bn-relu-conv-bn +sgate(-6) id -> relu",
    ("conv1x1_shortcut", "basic"): "conv-bn-relu-conv-bn + conv1x1 -> relu",
    ("dropout_shortcut", "basic"): "conv-bn-relu-conv-bn + dropout(0.5) -> relu",
    ("full_preactivation", "bottleneck"): "bn-relu-conv1x1-bn-relu-conv3x3-bn-relu-conv1x1 + id",
    ("one_layer_preactivation", "basic"): "bn-relu-conv + id",
}


@pytest.mark.parametrize(
    ("key", "text"), PAPER_UNITS.items(), ids=[k[0] + "-" + k[1] for k in PAPER_UNITS]
)
def test_paper_unit_is_canonical_preset(key, text):
    name, block = key
    assert str(preset(name, block)) == text
    assert resolve_unit(text, block) == (preset(name, block), name)


@pytest.mark.parametrize("entry", PRESETS, ids=PRESET_IDS)
def test_preset_round_trips(entry):
    text = str(entry.spec)
    assert parse_unit(text) == entry.spec
    assert str(parse_unit(text)) == text
    assert resolve_unit(entry.name, entry.block) == (entry.spec, entry.name)


def test_every_preset_exists_for_both_blocks():
    names = {p.name for p in PRESETS}
    assert len(names) == 12
    for name in names:
        assert {p.block for p in PRESETS if p.name == name} == {"basic", "bottleneck"}


def test_enumeration_contains_activation_presets():
    units = enumerate_units(2, 2)
    texts = [str(u) for u in units]
    # 4 ops and 3 slot breaks over 4 slots: 7! / (2! 2! 3!) orderings, all distinct.
    assert len(texts) == 210
    assert len(set(texts)) == len(texts)
    for name in (
        "original",
        "bn_after_addition",
        "relu_before_addition",
        "relu_only_preactivation",
        "full_preactivation",
    ):
        assert str(preset(name)) in texts


def test_unknown_token_column():
    with pytest.raises(SpecError) as info:
        parse_unit("conv-bx-conv + id")
    assert info.value.column == 5


def test_unknown_preset_suggests_name():
    with pytest.raises(AblateError, match="did you mean 'full_preactivation'"):
        resolve_unit("full_preact")


@pytest.mark.parametrize(
    ("text", "column", "reason", "accepted"),
    [
        ("conv-bx-conv + id", 5, "unknown token 'bx'", "bn"),
        ("conv-bn-relu-conv-bn", 20, "missing join", "+gate(bias)"),
        ("conv-bn -> relu", 8, "missing join before '->'", "+"),
        ("+ id", 0, "the residual branch is empty", "conv"),
        ("conv- + id", 6, "missing op after '-'", "relu"),
        ("bn-relu + id", 0, "the residual branch has no conv", "conv3x3"),
        ("conv + dropout(x)", 15, "invalid number", "a number such as 0.5"),
        ("conv*1e999 + id", 5, "not finite", "a finite number"),
        ("conv + dropout(1.5)", 15, "probability must be in [0, 1)", "a number in [0, 1)"),
        ("conv +gate(-6 id", 14, "expected ')'", ")"),
        ("conv + id extra", 10, "unexpected trailing text 'extra'", "end of text"),
        ("conv + identity", 7, "unknown shortcut 'identity'", "conv1x1"),
        ("conv +", 6, "missing shortcut", "id"),
        ("conv + id -> conv", 13, "a conv after the join is not supported", "relu"),
        ("conv + id -> ", 13, "the ops after '->' is empty", "bn"),
        ("convx + id", 0, "unknown token 'convx'", "conv1x1"),
    ],
)
def test_bad_spec_points_at_column(text, column, reason, accepted):
    with pytest.raises(SpecError) as info:
        parse_unit(text)
    error = info.value
    assert error.column == column
    assert reason in error.reason
    assert accepted in error.accepted
    lines = str(error).splitlines()
    assert lines[1] == "  " + text
    assert lines[2] == "  " + " " * column + "^"


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("conv-bn-relu-conv-bn+id->relu", "conv-bn-relu-conv-bn + id -> relu"),
        ("  conv3x3 - bn  +  id  ", "conv-bn + id"),
        ("conv1x1-conv3x3-conv1x1+id", "conv1x1-conv3x3-conv1x1 + id"),
        ("conv*1 + id*1.0", "conv + id"),
        ("conv*0.50 + id*5e-1", "conv*0.5 + id*0.5"),
        ("conv +gate(-6.0) id", "conv +gate(-6) id"),
        ("conv + sgate(0) id", "conv +sgate(0) id"),
        ("conv*-0 + id", "conv*0 + id"),
        (
            "conv-dropout(.1) + dropout(1e-4)*2 -> bn-dropout(0.25)",
            "conv-dropout(0.1) + dropout(0.0001)*2 -> bn-dropout(0.25)",
        ),
    ],
)
def test_canonical_text(text, canonical):
    spec = parse_unit(text)
    assert str(spec) == canonical
    assert parse_unit(canonical) == spec


def test_spec_is_hashable_and_frozen():
    spec = parse_unit("bn-relu-conv + id")
    assert {spec: 1}[parse_unit("bn-relu-conv3x3+id")] == 1
    with pytest.raises(AttributeError):
        spec.join = "gate"


def test_spec_structure():
    spec = preset("full_preactivation", "bottleneck")
    assert spec.num_convs == 3
    assert spec.is_preactivation
    assert [op.kind for op in spec.prefix] == ["bn", "relu"]
    assert not preset("original").is_preactivation
    assert [op.kind for op in preset("relu_only_preactivation").prefix] == ["relu"]


def test_preset_parameters():
    assert str(preset("exclusive_gating", bias=-7)) == "conv-bn-relu-conv-bn +gate(-7) id -> relu"
    assert str(preset("constant_scaling", scale=0)) == "conv-bn-relu-conv-bn*0 + id*0 -> relu"
    assert str(preset("dropout_shortcut", "bottleneck", p=0.25)).endswith("+ dropout(0.25) -> relu")
    assert (
        str(preset("shortcut_only_gating", bias=0)) == "conv-bn-relu-conv-bn +sgate(0) id -> relu"
    )
    with pytest.raises(AblateError, match="has no parameter 'bias'; accepted: p"):
        preset("dropout_shortcut", bias=1)
    with pytest.raises(SpecError, match="probability must be in"):
        preset("dropout_shortcut", p=1)
    with pytest.raises(AblateError, match="unknown block 'wide'"):
        preset("original", "wide")


def test_registry_rejects_duplicates():
    from ablate.grammar import Registry
    from ablate.grammar.presets import PRESETS

    with pytest.raises(ValueError, match="already registered"):
        PRESETS.register(("original", "basic"), PRESETS.get(("original", "basic")))
    registry = Registry("thing")
    registry.register("a", 1)
    with pytest.raises(ValueError, match="thing 'a' is already registered"):
        registry.register("a", 2)
    assert list(registry) == [1]
    assert registry.keys() == ["a"]


def test_resolve_unit_matches_presets_by_spec():
    assert resolve_unit("bn-relu-conv3x3-bn-relu-conv+id")[1] == "full_preactivation"
    assert resolve_unit("bn-relu-conv + id", "bottleneck")[1] == "one_layer_preactivation"
    assert resolve_unit("relu-conv + id")[1] is None
    assert resolve_unit(preset("original"))[1] == "original"
    # A bottleneck preset's text with block basic is a custom unit of that block.
    assert resolve_unit(str(preset("original", "bottleneck")), "basic")[1] is None


def test_resolve_unit_keeps_spec_errors():
    with pytest.raises(SpecError):
        resolve_unit("conv-bn")


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, 210),
        ({"no_post": True}, 90),  # 3 slots: 6! / (2! 2! 2!)
        ({"no_identical_neighbours": True}, 110),
        ({"no_post": True, "no_identical_neighbours": True}, 42),
    ],
)
def test_enumeration_counts(kwargs, expected):
    units = enumerate_units(2, 2, **kwargs)
    assert len(units) == expected
    assert len({str(u) for u in units}) == expected
    for unit in units:
        assert parse_unit(str(unit)) == unit
        if kwargs.get("no_post"):
            assert unit.post == ()


def test_enumeration_bottleneck_contains_presets():
    units = set(enumerate_units(3, 3, "bottleneck"))
    # 6 ops and 4 slot breaks over 5 slots: 10! / (3! 3! 4!) orderings.
    assert len(units) == 4200
    for name in (
        "original",
        "bn_after_addition",
        "relu_before_addition",
        "relu_only_preactivation",
        "full_preactivation",
    ):
        assert preset(name, "bottleneck") in units


def test_enumeration_one_layer():
    texts = [str(u) for u in enumerate_units(1, 1, weight_layers=["conv"])]
    # Two ops over 3 slots (before conv, before the join, after it): 4! / (1! 1! 2!) = 12.
    assert len(texts) == 12
    assert "bn-relu-conv + id" in texts
    assert "conv + id -> relu-bn" in texts


def test_enumeration_rejects_negative_counts():
    with pytest.raises(AblateError, match="op counts must be >= 0"):
        enumerate_units(-1, 2)
