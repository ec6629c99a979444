"""The per-invocation state every command receives: output settings and the platform root."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import typer

from gripctl.cli.output import Output


@dataclass
class AppState:
    output: Output = field(default_factory=Output)
    root: Path = field(default_factory=Path.cwd)
    verbose: bool = False


def state(ctx: typer.Context) -> AppState:
    """The AppState set up by the root callback (a default one when a command runs standalone)."""
    root = ctx.find_root()
    if not isinstance(root.obj, AppState):
        root.obj = AppState()
    return root.obj
