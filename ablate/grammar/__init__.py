"""The block-spec grammar: parse, validate and print residual-unit specs, named presets, and
enumeration of bn/relu orderings around the weight layers.

This package imports nothing else of `ablate` except its errors, and no torch.
"""

from ablate.grammar.enumerate import enumerate_units
from ablate.grammar.parser import parse_unit
from ablate.grammar.presets import Preset, Registry, list_presets, preset, resolve_unit
from ablate.grammar.spec import Op, UnitSpec

__all__ = [
    "Op",
    "Preset",
    "Registry",
    "UnitSpec",
    "enumerate_units",
    "list_presets",
    "parse_unit",
    "preset",
    "resolve_unit",
]
