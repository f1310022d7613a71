"""User-facing error types.

Every error a user can cause by a bad spec string, a bad YAML file or a bad command-line value
derives from `AblateError`. The CLI prints its message on one line and exits with code 2, with no
traceback.
"""

from __future__ import annotations

__all__ = ["AblateError", "ConfigError", "SpecError"]


class AblateError(Exception):
    """An error caused by user input; its message says what failed, on which value, and the fix."""


class SpecError(AblateError, ValueError):
    """An invalid block-spec string.

    Attributes:
        text: The string that failed to parse.
        column: 0-based column of the offending character.
        accepted: Tokens that would have been valid at that column.
    """

    def __init__(self, text: str, column: int, reason: str, accepted: tuple[str, ...] = ()):
        self.text = text
        self.column = column
        self.reason = reason
        self.accepted = tuple(accepted)
        lines = [f"invalid unit spec: {reason} at column {column + 1}", f"  {text}", "  " + " " * column + "^"]
        if self.accepted:
            lines.append("  accepted here: " + ", ".join(self.accepted))
        super().__init__("\n".join(lines))


class ConfigError(AblateError, ValueError):
    """An invalid configuration value, located by file, line and dotted key."""

    def __init__(self, message: str, *, source: str | None = None, line: int | None = None, key: str | None = None):
        self.source = source
        self.line = line
        self.key = key
        self.detail = message
        where = ""
        if source is not None:
            where = f"{source}:{line}: " if line is not None else f"{source}: "
        if key:
            where += f"{key}: "
        super().__init__(where + message)
