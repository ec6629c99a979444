"""gripctl graph: the release dependency graph in waves, with the critical path (text, dot, json)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app (none yet)."""
