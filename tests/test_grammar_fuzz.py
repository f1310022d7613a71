"""Property tests of the grammar: any string parses or raises SpecError, specs round-trip."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ablate.errors import SpecError
from ablate.grammar import Op, UnitSpec, parse_unit

TOKENS = [
    "conv",
    "conv3x3",
    "conv1x1",
    "bn",
    "relu",
    "dropout(",
    "id",
    "+",
    "gate(",
    "sgate(",
    "-",
    "->",
    "*",
    "(",
    ")",
    " ",
    "0.5",
    "-6",
    "1e3",
    "x",
    ".",
    "e",
]


def check_text(text: str) -> None:
    try:
        spec = parse_unit(text)
    except SpecError as error:
        assert 0 <= error.column <= len(text)
        return
    canonical = str(spec)
    assert parse_unit(canonical) == spec
    assert str(parse_unit(canonical)) == canonical


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_any_text_parses_or_raises_spec_error(text):
    check_text(text)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=25).map("".join))
def test_token_soup_parses_or_raises_spec_error(text):
    check_text(text)


numbers = st.floats(allow_nan=False, allow_infinity=False, width=64).map(lambda v: v + 0.0)
probabilities = st.floats(min_value=0, max_value=1, exclude_max=True).map(lambda v: v + 0.0)
ops = st.one_of(
    st.sampled_from([Op("bn"), Op("relu"), Op("conv3x3"), Op("conv1x1")]),
    probabilities.map(lambda p: Op("dropout", p)),
)
post_ops = st.one_of(
    st.sampled_from([Op("bn"), Op("relu")]), probabilities.map(lambda p: Op("dropout", p))
)


@st.composite
def unit_specs(draw) -> UnitSpec:
    branch = draw(st.lists(ops, min_size=0, max_size=6))
    branch.insert(
        draw(st.integers(0, len(branch))), draw(st.sampled_from([Op("conv3x3"), Op("conv1x1")]))
    )
    join = draw(st.sampled_from(["add", "gate", "sgate"]))
    shortcut = draw(st.sampled_from(["id", "conv1x1", "dropout"]))
    return UnitSpec(
        branch=tuple(branch),
        branch_scale=draw(st.one_of(st.just(1.0), numbers)),
        join=join,
        gate_bias=None if join == "add" else draw(numbers),
        shortcut=shortcut,
        shortcut_dropout=draw(probabilities) if shortcut == "dropout" else None,
        shortcut_scale=draw(st.one_of(st.just(1.0), numbers)),
        post=tuple(draw(st.lists(post_ops, max_size=3))),
    )


@settings(max_examples=300, deadline=None)
@given(unit_specs())
def test_canonical_text_round_trips(spec):
    canonical = str(spec)
    assert parse_unit(canonical) == spec
    assert str(parse_unit(canonical)) == canonical
