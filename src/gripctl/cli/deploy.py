"""gripctl plan, apply, deploy, approve, status, history, rollback, verify, recover, runs."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app (none yet)."""
