"""gripctl validate and gripctl graph: check the platform and show its dependency graph."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app (none yet)."""
