"""gripctl plan: observe the live cluster and show what a deploy would change, per release."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app (none yet)."""
