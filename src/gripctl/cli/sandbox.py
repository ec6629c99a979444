"""gripctl sandbox: start, stop and inspect a local kwok-based Kubernetes cluster."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app (none yet)."""
