"""Immutable residual-unit specs and their canonical text.

A `UnitSpec` is the parsed form of one block-spec string such as
`bn-relu-conv-bn-relu-conv + id`. Its `str()` is the canonical text, the identity of a unit
variant in results rows, dashboard labels and cache keys: parsing the canonical text returns an
equal spec, and printing is idempotent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

__all__ = ["JOINS", "OP_KINDS", "SHORTCUTS", "Op", "UnitSpec", "format_number"]

# Operation kinds of a sequence. `conv` in spec text is an alias of `conv3x3`.
OP_KINDS = ("bn", "relu", "conv3x3", "conv1x1", "dropout")
CONV_KINDS = ("conv3x3", "conv1x1")
# Joins: "add" is y = F + h, "gate" is y = g*F + (1-g)*h, "sgate" is y = F + (1-g)*h.
JOINS = ("add", "gate", "sgate")
SHORTCUTS = ("id", "conv1x1", "dropout")


def format_number(value: float) -> str:
    """Format a number in the shortest text that parses back to the same float."""
    if value == 0:
        return "0"
    if float(value).is_integer() and abs(value) < 1e16:
        return str(int(value))
    return repr(float(value))


@dataclass(frozen=True)
class Op:
    """One operation of a branch or of the ops after the join.

    Attributes:
        kind: One of `OP_KINDS`.
        p: Drop probability of a `dropout` op; None for every other kind.
    """

    kind: str
    p: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in OP_KINDS:
            raise ValueError(f"op kind must be one of {', '.join(OP_KINDS)}, but got {self.kind!r}")
        if (self.kind == "dropout") != (self.p is not None):
            raise ValueError(
                f"only a dropout op has a probability, but got {self.kind!r} with p={self.p!r}"
            )

    @property
    def is_conv(self) -> bool:
        """Whether this op is a weight layer."""
        return self.kind in CONV_KINDS

    @property
    def kernel_size(self) -> int:
        """Kernel size of a conv op (3 or 1); 0 for other ops."""
        return {"conv3x3": 3, "conv1x1": 1}.get(self.kind, 0)

    def text(self, short_conv: bool = True) -> str:
        """Return the op's token; `short_conv` prints `conv3x3` as `conv`."""
        if self.kind == "dropout":
            return f"dropout({format_number(self.p)})"
        if self.kind == "conv3x3" and short_conv:
            return "conv"
        return self.kind


@dataclass(frozen=True)
class UnitSpec:
    """One residual unit: y = branch_scale * F(x) joined with shortcut_scale * h(x), then `post`.

    Attributes:
        branch: Ops of the residual branch F, in order; contains at least one conv.
        branch_scale: Constant multiplying F (1 when absent from the text).
        join: "add", "gate" (exclusive gating) or "sgate" (shortcut-only gating).
        gate_bias: Initial bias of the gate's 1x1 conv; None unless the join is a gate.
        shortcut: "id", "conv1x1" or "dropout".
        shortcut_dropout: Drop probability of a dropout shortcut; None otherwise.
        shortcut_scale: Constant multiplying h (1 when absent from the text).
        post: Ops applied after the join (empty when the text has no `->`).
    """

    branch: tuple[Op, ...]
    branch_scale: float = 1.0
    join: str = "add"
    gate_bias: float | None = None
    shortcut: str = "id"
    shortcut_dropout: float | None = None
    shortcut_scale: float = 1.0
    post: tuple[Op, ...] = field(default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "branch", tuple(self.branch))
        object.__setattr__(self, "post", tuple(self.post))
        object.__setattr__(self, "branch_scale", float(self.branch_scale))
        object.__setattr__(self, "shortcut_scale", float(self.shortcut_scale))
        if not any(op.is_conv for op in self.branch):
            raise ValueError("the residual branch must contain at least one conv")
        if any(op.is_conv for op in self.post):
            raise ValueError("ops after the join cannot contain a conv")
        if self.join not in JOINS:
            raise ValueError(f"join must be one of {', '.join(JOINS)}, but got {self.join!r}")
        if (self.join == "add") != (self.gate_bias is None):
            raise ValueError(
                f"gate_bias must be set exactly for gated joins, but got {self.gate_bias!r}"
            )
        if self.shortcut not in SHORTCUTS:
            raise ValueError(
                f"shortcut must be one of {', '.join(SHORTCUTS)}, but got {self.shortcut!r}"
            )
        if (self.shortcut == "dropout") != (self.shortcut_dropout is not None):
            raise ValueError("shortcut_dropout must be set exactly for a dropout shortcut")
        for value in (
            self.branch_scale,
            self.shortcut_scale,
            self.gate_bias,
            self.shortcut_dropout,
        ):
            if value is not None and not math.isfinite(value):
                raise ValueError(f"numbers in a unit spec must be finite, but got {value!r}")

    # Structure -----------------------------------------------------------------------------

    @property
    def convs(self) -> tuple[Op, ...]:
        """The weight layers of the branch, in order."""
        return tuple(op for op in self.branch if op.is_conv)

    @property
    def num_convs(self) -> int:
        """Number of weight layers in the branch (k in depth = 2 + 3nk)."""
        return len(self.convs)

    @property
    def prefix(self) -> tuple[Op, ...]:
        """Ops of the branch before its first conv (the pre-activation)."""
        first = next(i for i, op in enumerate(self.branch) if op.is_conv)
        return self.branch[:first]

    @property
    def body(self) -> tuple[Op, ...]:
        """Ops of the branch from its first conv on."""
        return self.branch[len(self.prefix) :]

    @property
    def is_preactivation(self) -> bool:
        """Whether the branch starts with ops before its first conv."""
        return bool(self.prefix)

    # Canonical text ------------------------------------------------------------------------

    def __str__(self) -> str:
        # 3x3 convs print as `conv` unless the branch mixes kernel sizes, as in bottlenecks.
        short_conv = not any(op.kind == "conv1x1" for op in self.branch)
        text = "-".join(op.text(short_conv) for op in self.branch)
        if self.branch_scale != 1:
            text += f"*{format_number(self.branch_scale)}"

        if self.join == "add":
            text += " + "
        else:
            text += f" +{self.join}({format_number(self.gate_bias)}) "

        if self.shortcut == "dropout":
            text += f"dropout({format_number(self.shortcut_dropout)})"
        else:
            text += self.shortcut
        if self.shortcut_scale != 1:
            text += f"*{format_number(self.shortcut_scale)}"

        if self.post:
            text += " -> " + "-".join(op.text() for op in self.post)
        return text
