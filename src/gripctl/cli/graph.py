"""gripctl graph: the release dependency graph in waves, with the critical path (text, dot, json)."""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Annotated

import typer
from rich.markup import escape

from gripctl.cli.context import state
from gripctl.cli.options import (
    environment_option,
    include_dependents_option,
    include_needs_option,
    only_option,
    selection,
    selector_option,
)


class GraphFormat(StrEnum):
    text = "text"
    dot = "dot"
    json = "json"


def register(app: typer.Typer) -> None:
    """Add `gripctl graph` to the root app."""
    app.command("graph")(graph)


def graph(
    ctx: typer.Context,
    environment: Annotated[str | None, environment_option] = None,
    fmt: Annotated[
        GraphFormat,
        typer.Option(
            "--format",
            "-f",
            help="text: numbered waves and the critical path; dot: Graphviz (pipe to `dot -Tsvg`); "
            "json: {waves, critical_path, edges}. Edges run from a release to one that needs it.",
        ),
    ] = GraphFormat.text,
    only: Annotated[list[str] | None, only_option] = None,
    include_needs: Annotated[bool, include_needs_option] = False,
    include_dependents: Annotated[bool, include_dependents_option] = False,
    selector: Annotated[list[str] | None, selector_option] = None,
) -> None:
    """Show the order releases deploy in: waves that run together, and the longest chain of needs."""
    from gripctl.service.graph import GraphRequest
    from gripctl.service.graph import graph as get

    app_state = state(ctx)
    result = get(GraphRequest(app_state.root, environment, selection(ctx.params)))
    if app_state.output.json or fmt is GraphFormat.json:
        app_state.output.document(result.to_dict())
    elif fmt is GraphFormat.dot:
        sys.stdout.write(result.to_dot())
    else:
        out, shown = app_state.output, result.graph
        waves = shown.waves()
        out.line(
            f"environment {escape(result.environment)}: {len(shown.nodes)} releases in {len(waves)} waves"
        )
        for number, wave in enumerate(waves, start=1):
            out.line(f"wave {number}", style="bold")
            for release_id in wave:
                needs = shown.needs(release_id)
                after = f"  (after {', '.join(needs)})" if needs else ""
                out.line(f"  {escape(release_id)}{escape(after)}")
        path = shown.critical_path()
        out.line(f"critical path ({len(path)} releases): {escape(' -> '.join(path) or '(empty)')}")
