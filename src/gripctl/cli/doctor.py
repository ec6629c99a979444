"""gripctl doctor: is this machine ready to run gripctl on this platform? One line per check."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.markup import escape

from gripctl.cli.context import state
from gripctl.cli.options import environment_option


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)


def doctor(ctx: typer.Context, environment: Annotated[str | None, environment_option] = None) -> None:
    """Check the tools gripctl runs (helm 4, sops, age, kubectl) and their versions, each environment's
    cluster, the age key against the repository's secrets, and the ledger. Exit 1 when a check fails."""
    from gripctl.service.doctor import doctor as check

    st = state(ctx)
    result = asyncio.run(check(st.root, environment))
    out = st.output
    if out.json:
        out.document(result.to_dict())
    else:
        for c in result.checks:
            mark = (
                "[green]ok  [/green]"
                if c.ok
                else ("[bold red]FAIL[/bold red]" if c.required else "[yellow]warn[/yellow]")
            )
            out.line(f"{mark} {escape(c.name)}: {escape(c.detail)}")
            if not c.ok and c.fix:
                out.line(f"       fix: {escape(c.fix)}", style="dim")
        out.line("ready" if result.ok else "not ready: fix the checks marked FAIL", style="bold")
    if not result.ok:
        raise SystemExit(1)
