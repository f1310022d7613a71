"""Commands of the results group; see `register`."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this group's commands to the `ablate` parser."""
