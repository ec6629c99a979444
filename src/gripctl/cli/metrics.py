"""gripctl metrics: the four DORA keys from the ledger, as a table, JSON or Prometheus text."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app (none yet)."""
