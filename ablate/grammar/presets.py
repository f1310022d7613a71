"""Named presets: every residual unit of He et al. 2016, "Identity Mappings in Deep Residual
Networks" (arXiv 1603.05027), for basic and bottleneck blocks.

A preset is a name for an ordering. The block decides the weight layers: two 3x3 convs for
`basic`, 1x1-3x3-1x1 for `bottleneck`. The paper's bottleneck forms of the activation variants
extend the basic pattern to three weight layers. Presets with a number (scale, gate bias, dropout
probability) take it as a keyword of `preset()`; the registered spec uses the paper's value.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from ablate.errors import AblateError, SpecError
from ablate.grammar.parser import parse_unit
from ablate.grammar.spec import UnitSpec, format_number

__all__ = [
    "BLOCKS",
    "PRESETS",
    "WEIGHT_LAYERS",
    "Preset",
    "Registry",
    "list_presets",
    "preset",
    "resolve_unit",
]

BLOCKS = ("basic", "bottleneck")
# Weight layers of one unit per block, in spec tokens.
WEIGHT_LAYERS = {"basic": ("conv", "conv"), "bottleneck": ("conv1x1", "conv3x3", "conv1x1")}

T = TypeVar("T")


class Registry(Generic[T]):
    """A name -> entry mapping that rejects duplicate names and lists its entries in order."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[object, T] = {}

    def register(self, key: object, entry: T) -> T:
        """Add `entry` under `key`; raise `ValueError` when the key is taken."""
        if key in self._entries:
            raise ValueError(f"{self.kind} {key!r} is already registered")
        self._entries[key] = entry
        return entry

    def get(self, key: object) -> T | None:
        return self._entries.get(key)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __iter__(self) -> Iterator[T]:
        return iter(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def keys(self) -> list[object]:
        return list(self._entries)


@dataclass(frozen=True)
class Preset:
    """A named residual unit for one block type.

    Attributes:
        name: Preset name, such as `full_preactivation`.
        block: "basic" or "bottleneck".
        spec: The unit with the paper's parameter values.
        description: One line naming the variant in the paper's terms.
        params: Keyword parameters of `preset()` and their paper values (scale, bias, p).
    """

    name: str
    block: str
    spec: UnitSpec
    description: str
    params: dict[str, float] = field(default_factory=dict, compare=False, hash=False)
    build_text: Callable[..., str] | None = field(
        default=None, compare=False, hash=False, repr=False
    )


PRESETS: Registry[Preset] = Registry("preset")


# Branch orderings over weight layers w1..wk --------------------------------------------------


def _original_branch(convs: tuple[str, ...], last_bn: bool = True) -> str:
    """W-BN-ReLU-...-W-BN: every conv but the last followed by bn-relu, the last by bn."""
    parts = [f"{conv}-bn-relu" for conv in convs[:-1]]
    parts.append(convs[-1] + ("-bn" if last_bn else ""))
    return "-".join(parts)


def _full_preactivation_branch(convs: tuple[str, ...]) -> str:
    return "-".join(f"bn-relu-{conv}" for conv in convs)


def _register(
    name: str, description: str, build: Callable[..., str], blocks: tuple[str, ...] = BLOCKS
) -> None:
    defaults = {
        key: param.default
        for key, param in inspect.signature(build).parameters.items()
        if key != "convs"
    }
    for block in blocks:
        spec = parse_unit(build(WEIGHT_LAYERS[block], **defaults))
        PRESETS.register((name, block), Preset(name, block, spec, description, defaults, build))


def _num(value: float) -> str:
    return format_number(float(value))


# Activation variants (the paper's Fig. 4 and Table 2; identity shortcuts).
_register(
    "original",
    "(a) original: W-BN-ReLU-W-BN, ReLU after the addition",
    lambda convs: f"{_original_branch(convs)} + id -> relu",
)
_register(
    "bn_after_addition",
    "(b) BN after addition: W-BN-ReLU-W, BN-ReLU after the addition",
    lambda convs: f"{_original_branch(convs, last_bn=False)} + id -> bn-relu",
)
_register(
    "relu_before_addition",
    "(c) ReLU before addition: W-BN-ReLU-W-BN-ReLU, nothing after",
    lambda convs: f"{_original_branch(convs)}-relu + id",
)
_register(
    "relu_only_preactivation",
    "(d) ReLU-only pre-activation: ReLU-W-BN-ReLU-W-BN",
    lambda convs: f"relu-{_original_branch(convs)} + id",
)
_register(
    "full_preactivation",
    "(e) full pre-activation: BN-ReLU-W-BN-ReLU-W",
    lambda convs: f"{_full_preactivation_branch(convs)} + id",
)


# Shortcut variants (the paper's Fig. 2 and Table 1; original branch, ReLU after the addition).
def _constant_scaling(convs: tuple[str, ...], scale: float = 0.5) -> str:
    return f"{_original_branch(convs)}*{_num(scale)} + id*{_num(scale)} -> relu"


def _constant_scaling_shortcut_only(convs: tuple[str, ...], scale: float = 0.5) -> str:
    return f"{_original_branch(convs)} + id*{_num(scale)} -> relu"


def _exclusive_gating(convs: tuple[str, ...], bias: float = -6) -> str:
    return f"{_original_branch(convs)} +gate({_num(bias)}) id -> relu"


def _shortcut_only_gating(convs: tuple[str, ...], bias: float = -6) -> str:
    return f"{_original_branch(convs)} +sgate({_num(bias)}) id -> relu"


def _dropout_shortcut(convs: tuple[str, ...], p: float = 0.5) -> str:
    return f"{_original_branch(convs)} + dropout({_num(p)}) -> relu"


_register("constant_scaling", "constant scaling of both paths: 0.5*F + 0.5*x", _constant_scaling)
_register(
    "constant_scaling_shortcut_only",
    "constant scaling of the shortcut only: F + 0.5*x",
    _constant_scaling_shortcut_only,
)
_register(
    "exclusive_gating", "exclusive gating: g*F + (1-g)*x, gate bias init -6", _exclusive_gating
)
_register(
    "shortcut_only_gating",
    "shortcut-only gating: F + (1-g)*x, gate bias init -6",
    _shortcut_only_gating,
)
_register(
    "conv1x1_shortcut",
    "1x1 conv shortcut in every unit: F + conv1x1(x)",
    lambda convs: f"{_original_branch(convs)} + conv1x1 -> relu",
)
_register("dropout_shortcut", "dropout shortcut, ratio 0.5: F + dropout(x)", _dropout_shortcut)

# One-layer unit (the paper's Table 3, "ResNet-110, one 3x3 conv per unit"): BN-ReLU-W, depth 3n+2.
# NOTE: the paper has no bottleneck form of it; for `bottleneck` the single 3x3 conv maps the
# input to the expanded width 4w.
_register(
    "one_layer_preactivation",
    "pre-activation unit with one 3x3 conv: BN-ReLU-W",
    lambda convs: "bn-relu-conv + id",
)


# Lookup ------------------------------------------------------------------------------------


def _check_block(block: str) -> None:
    if block not in BLOCKS:
        raise AblateError(f"unknown block {block!r}; accepted: {', '.join(BLOCKS)}")


def list_presets(block: str | None = None) -> list[Preset]:
    """List registered presets in registration order, for one block or for all."""
    if block is not None:
        _check_block(block)
    return [entry for entry in PRESETS if block is None or entry.block == block]


def preset_names() -> list[str]:
    """Return the distinct preset names in registration order."""
    return list(dict.fromkeys(entry.name for entry in PRESETS))


def preset(name: str, block: str = "basic", **params: float) -> UnitSpec:
    """Return the spec of a named preset.

    Args:
        name: Preset name, see `list_presets()`.
        block: "basic" or "bottleneck".
        **params: The preset's number, e.g. `bias=-7` for `exclusive_gating`, `scale=0.25` for
            `constant_scaling`, `p=0.3` for `dropout_shortcut`.

    Raises:
        AblateError: Unknown name, block or parameter.
        SpecError: A parameter value is invalid in the grammar (e.g. p outside [0, 1)).
    """
    _check_block(block)
    entry = PRESETS.get((name, block))
    if entry is None:
        raise AblateError(
            f"unknown preset {name!r}{_did_you_mean(name)}; run `ablate presets` for the list"
        )
    if not params:
        return entry.spec
    unknown = sorted(set(params) - set(entry.params))
    if unknown:
        accepted = ", ".join(entry.params) or "none"
        raise AblateError(f"preset {name!r} has no parameter {unknown[0]!r}; accepted: {accepted}")
    return parse_unit(entry.build_text(WEIGHT_LAYERS[block], **{**entry.params, **params}))


def _did_you_mean(name: str) -> str:
    close = difflib.get_close_matches(name, preset_names(), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def resolve_unit(unit: UnitSpec | str, block: str = "basic") -> tuple[UnitSpec, str | None]:
    """Turn a preset name or spec text into a spec and its preset name.

    Args:
        unit: A preset name, block-spec text, or a `UnitSpec`.
        block: The block type presets are looked up for.

    Returns:
        The spec, and the name of the preset of this block whose spec equals it (None if none).

    Raises:
        SpecError: The text is neither a preset name nor a valid spec.
    """
    _check_block(block)
    if isinstance(unit, str) and (unit.strip(), block) in PRESETS:
        return preset(unit.strip(), block), unit.strip()
    try:
        spec = parse_unit(unit)
    except SpecError as exc:
        # A bare word that is no op is most likely a misspelt preset name.
        word = unit.strip() if isinstance(unit, str) else ""
        if word.isidentifier() and exc.column == len(unit) - len(unit.lstrip()):
            raise AblateError(
                f"unknown preset or unit {word!r}{_did_you_mean(word)}; "
                f"presets: {', '.join(preset_names())}"
            ) from None
        raise
    for entry in list_presets(block):
        if entry.spec == spec:
            return spec, entry.name
    return spec, None
