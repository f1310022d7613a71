"""Parser of the block-spec grammar.

    unit      := branch join shortcut [ "->" post ]
    branch    := seq [ "*" number ]
    join      := "+" | "+gate(" number ")" | "+sgate(" number ")"
    shortcut  := ( "id" | "conv1x1" | "dropout(" number ")" ) [ "*" number ]
    post      := seq
    seq       := op { "-" op }
    op        := "bn" | "relu" | "conv" | "conv3x3" | "conv1x1" | "dropout(" number ")"

Whitespace between tokens is ignored. Every invalid string raises `SpecError` with the column of
the offending character and the tokens accepted there.
"""

from __future__ import annotations

import math
import re

from ablate.errors import SpecError
from ablate.grammar.spec import Op, UnitSpec

__all__ = ["parse_unit"]

# Longest tokens first, so that `conv3x3` is not read as `conv` followed by `3x3`.
_OP_TOKENS = ("conv3x3", "conv1x1", "conv", "bn", "relu", "dropout(")
_OP_ACCEPTED = ("bn", "relu", "conv", "conv3x3", "conv1x1", "dropout(p)")
_POST_ACCEPTED = ("bn", "relu", "dropout(p)")
_SHORTCUT_ACCEPTED = ("id", "conv1x1", "dropout(p)")
_JOIN_ACCEPTED = ("+", "+gate(bias)", "+sgate(bias)")
# ASCII digits only: `\d` would accept other scripts' digits, which float() also reads.
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\S")


class _Parser:
    """Recursive-descent parser over one spec string; `pos` is the current column."""

    def __init__(self, text: str):
        self.text = text
        self.pos = 0

    # Low-level helpers ---------------------------------------------------------------------

    def fail(
        self, reason: str, accepted: tuple[str, ...] = (), column: int | None = None
    ) -> SpecError:
        return SpecError(self.text, self.pos if column is None else column, reason, accepted)

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def peek(self, token: str) -> bool:
        self.skip_space()
        return self.text.startswith(token, self.pos)

    def at_end(self) -> bool:
        self.skip_space()
        return self.pos >= len(self.text)

    def describe_here(self) -> str:
        """Return the word at the current column, for error messages."""
        if self.at_end():
            return "end of text"
        match = _WORD.match(self.text, self.pos)
        return repr(match.group(0)) if match else repr(self.text[self.pos])

    def expect(self, token: str, accepted: tuple[str, ...]) -> None:
        if not self.peek(token):
            raise self.fail(f"expected {token!r}, found {self.describe_here()}", accepted)
        self.pos += len(token)

    def number(self, subject: str) -> float:
        self.skip_space()
        match = _NUMBER.match(self.text, self.pos)
        if match is None:
            raise self.fail(
                f"invalid number for {subject}: found {self.describe_here()}",
                ("a number such as 0.5",),
            )
        value = float(match.group(0))
        if not math.isfinite(value):
            raise self.fail(
                f"number {match.group(0)!r} for {subject} is not finite", ("a finite number",)
            )
        self.pos = match.end()
        return value + 0.0  # turns -0.0 into 0.0, so equal specs print equally

    def probability(self, subject: str) -> float:
        self.skip_space()
        column = self.pos
        value = self.number(subject)
        if not 0 <= value < 1:
            raise self.fail(
                f"{subject} probability must be in [0, 1), but got {value:g}",
                ("a number in [0, 1)",),
                column,
            )
        return value

    # Grammar rules -------------------------------------------------------------------------

    def op(self, accepted: tuple[str, ...], missing: str) -> Op:
        self.skip_space()
        start = self.pos
        for token in _OP_TOKENS:
            if self.text.startswith(token, start):
                # A token must end at a delimiter: `convx` or `bnrelu` are unknown words.
                end = start + len(token)
                if not token.endswith("(") and end < len(self.text) and self.text[end].isalnum():
                    continue
                self.pos = end
                if token == "dropout(":
                    p = self.probability("dropout")
                    self.expect(")", (")",))
                    return Op("dropout", p)
                return Op("conv3x3" if token == "conv" else token)
        if self.at_end() or self.text[start] in "+-*>":
            raise self.fail(missing, accepted)
        raise self.fail(f"unknown token {self.describe_here()}", accepted)

    def seq(self, accepted: tuple[str, ...], context: str) -> list[tuple[int, Op]]:
        ops = [(self._column(), self.op(accepted, f"{context} is empty"))]
        while self.peek("-") and not self.peek("->"):
            self.pos += 1
            ops.append((self._column(), self.op(accepted, f"missing op after '-' in {context}")))
        return ops

    def _column(self) -> int:
        self.skip_space()
        return self.pos

    def scale(self) -> float:
        if self.peek("*"):
            self.pos += 1
            return self.number("a scale")
        return 1.0

    def join(self) -> tuple[str, float | None]:
        if self.at_end():
            raise self.fail(
                "missing join: a unit needs '+' and a shortcut", ("-", "*number", *_JOIN_ACCEPTED)
            )
        if self.peek("->"):
            raise self.fail("missing join before '->'", _JOIN_ACCEPTED)
        if not self.peek("+"):
            raise self.fail(
                f"expected '-', '*' or a join, found {self.describe_here()}",
                ("-", "*number", *_JOIN_ACCEPTED),
            )
        self.pos += 1
        for kind in ("gate", "sgate"):
            if self.peek(kind + "("):
                self.pos += len(kind) + 1
                bias = self.number("the gate bias")
                self.expect(")", (")",))
                return kind, bias
        return "add", None

    def shortcut(self) -> tuple[str, float | None, float]:
        self.skip_space()
        dropout = None
        if self.peek("dropout("):
            self.pos += len("dropout(")
            kind = "dropout"
            dropout = self.probability("shortcut dropout")
            self.expect(")", (")",))
        else:
            kind = next((t for t in ("id", "conv1x1") if self._word_is(t)), None)
            if kind is None:
                found = self.describe_here()
                reason = (
                    "missing shortcut after the join"
                    if self.at_end()
                    else f"unknown shortcut {found}"
                )
                raise self.fail(reason, _SHORTCUT_ACCEPTED)
            self.pos += len(kind)
        return kind, dropout, self.scale()

    def _word_is(self, token: str) -> bool:
        match = _WORD.match(self.text, self.pos)
        return match is not None and match.group(0) == token

    def unit(self) -> UnitSpec:
        branch = self.seq(_OP_ACCEPTED, "the residual branch")
        if not any(op.is_conv for _, op in branch):
            raise self.fail(
                "the residual branch has no conv", ("conv", "conv3x3", "conv1x1"), branch[0][0]
            )
        branch_scale = self.scale()
        join, gate_bias = self.join()
        shortcut, shortcut_dropout, shortcut_scale = self.shortcut()

        post: list[tuple[int, Op]] = []
        if self.peek("->"):
            self.pos += 2
            post = self.seq(_POST_ACCEPTED, "the ops after '->'")
            for column, op in post:
                if op.is_conv:
                    raise self.fail(
                        "a conv after the join is not supported; put weight layers in the branch",
                        _POST_ACCEPTED,
                        column,
                    )

        if not self.at_end():
            raise self.fail(
                f"unexpected trailing text {self.describe_here()}", ("->", "end of text")
            )
        return UnitSpec(
            branch=tuple(op for _, op in branch),
            branch_scale=branch_scale,
            join=join,
            gate_bias=gate_bias,
            shortcut=shortcut,
            shortcut_dropout=shortcut_dropout,
            shortcut_scale=shortcut_scale,
            post=tuple(op for _, op in post),
        )


def parse_unit(text: str) -> UnitSpec:
    """Parse one block-spec string into a `UnitSpec`.

    Args:
        text: A unit such as `"bn-relu-conv-bn-relu-conv + id"`.

    Returns:
        The spec; `str(spec)` is its canonical text.

    Raises:
        SpecError: The text does not follow the grammar; the message shows the column.
    """
    if isinstance(text, UnitSpec):
        return text
    if not isinstance(text, str):
        raise SpecError(
            repr(text), 0, f"a unit spec must be a string, but got {type(text).__name__}"
        )
    return _Parser(text).unit()
