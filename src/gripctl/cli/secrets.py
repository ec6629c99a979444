"""gripctl secrets: SOPS + age workflows (init, edit, decrypt, encrypt, rotate, updatekeys, check)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app (none yet)."""
