"""Enumeration of residual units: every placement of a given number of `bn` and `relu` ops
around fixed weight layers.

The slots are: before each conv (before the first conv is the pre-activation), between convs,
before the join, and after the join. With k convs there are k + 2 slots, and every ordering of
the ops over those slots is one unit with an identity shortcut and a plain addition.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from ablate.errors import AblateError
from ablate.grammar.parser import parse_unit
from ablate.grammar.presets import BLOCKS, WEIGHT_LAYERS
from ablate.grammar.spec import Op, UnitSpec

__all__ = ["enumerate_units"]

# Separator between slots in the enumeration word; every other symbol is an op.
_SLOT_BREAK = "|"


def _distinct_words(n_bn: int, n_relu: int, n_breaks: int) -> list[tuple[str, ...]]:
    """Return every distinct arrangement of n_bn bn, n_relu relu and n_breaks slot breaks."""
    words: list[tuple[str, ...]] = [()]
    for _ in range(n_bn + n_relu + n_breaks):
        grown = []
        for word in words:
            for symbol in ("bn", "relu", _SLOT_BREAK):
                limit = {"bn": n_bn, "relu": n_relu, _SLOT_BREAK: n_breaks}[symbol]
                if word.count(symbol) < limit:
                    grown.append((*word, symbol))
        words = grown
    return words


def _split_slots(word: tuple[str, ...]) -> list[list[str]]:
    slots: list[list[str]] = [[]]
    for symbol in word:
        if symbol == _SLOT_BREAK:
            slots.append([])
        else:
            slots[-1].append(symbol)
    return slots


def _has_identical_neighbours(slots: list[list[str]]) -> bool:
    return any(a == b for slot in slots for a, b in itertools.pairwise(slot))


def enumerate_units(
    n_bn: int,
    n_relu: int,
    block: str = "basic",
    no_identical_neighbours: bool = False,
    no_post: bool = False,
    weight_layers: Sequence[str] | None = None,
) -> list[UnitSpec]:
    """List every distinct unit with `n_bn` bn and `n_relu` relu ops around the weight layers.

    Args:
        n_bn: Number of `bn` ops to place.
        n_relu: Number of `relu` ops to place.
        block: "basic" (conv, conv) or "bottleneck" (conv1x1, conv3x3, conv1x1).
        no_identical_neighbours: Drop units with two equal ops next to each other in one slot
            (such as `bn-bn` or `relu-relu`).
        no_post: Drop units with ops after the join.
        weight_layers: Conv tokens overriding the block's, e.g. `["conv"]` for one-layer units.

    Returns:
        Units with an identity shortcut, each once, sorted by canonical text.
    """
    if n_bn < 0 or n_relu < 0:
        raise AblateError(f"op counts must be >= 0, but got n_bn={n_bn}, n_relu={n_relu}")
    if weight_layers is None:
        if block not in BLOCKS:
            raise AblateError(f"unknown block {block!r}; accepted: {', '.join(BLOCKS)}")
        weight_layers = WEIGHT_LAYERS[block]
    convs = [parse_unit(f"{token} + id").branch[0] for token in weight_layers]
    if not convs:
        raise AblateError("weight_layers must name at least one conv")

    units: dict[str, UnitSpec] = {}
    for word in _distinct_words(n_bn, n_relu, len(convs) + 1):
        slots = _split_slots(word)
        if no_post and slots[-1]:
            continue
        if no_identical_neighbours and _has_identical_neighbours(slots):
            continue
        branch: list[Op] = []
        for conv, slot in zip(convs, slots):
            branch += [Op(kind) for kind in slot]
            branch.append(conv)
        branch += [Op(kind) for kind in slots[-2]]
        spec = UnitSpec(branch=tuple(branch), post=tuple(Op(kind) for kind in slots[-1]))
        units.setdefault(str(spec), spec)
    return [units[text] for text in sorted(units)]
