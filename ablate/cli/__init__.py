"""The `ablate` command: parses arguments, calls the package, prints.

Each command group lives in its own module with a `register(subparsers)` function. Those modules
import torch, ray and plotly only inside the functions that run a command, so `ablate --help`
stays fast.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from ablate.errors import AblateError

__all__ = ["main"]

# Command-group modules, in the order their commands appear in `ablate --help`.
_COMMAND_MODULES = (
    "ablate.cli.grammar_cmds",
    "ablate.cli.train_cmds",
    "ablate.cli.sweep_cmds",
    "ablate.cli.results_cmds",
    "ablate.cli.probe_cmds",
)


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every registered command."""
    import importlib

    parser = argparse.ArgumentParser(
        prog="ablate",
        description="Ablation sweeps and architecture search over residual-unit designs.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `ablate` command line and return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except AblateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of stdout went away (`ablate presets | head`). Point stdout at devnull so
        # the interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
