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


@pytest.mark.parametrize(("key", "text"), PAPER_UNITS.items(), ids=[k[0] + "-" + k[1] for k in PAPER_UNITS])
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
    for name in ("original", "bn_after_addition", "relu_before_addition", "relu_only_preactivation",
                 "full_preactivation"):
        assert str(preset(name)) in texts


def test_unknown_token_column():
    with pytest.raises(SpecError) as info:
        parse_unit("conv-bx-conv + id")
    assert info.value.column == 5


def test_unknown_preset_suggests_name():
    with pytest.raises(AblateError, match="did you mean 'full_preactivation'"):
        resolve_unit("full_preact")
