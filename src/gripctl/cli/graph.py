"""gripctl graph: the release dependency graph in waves, with the critical path (text, dot, json)."""

from __future__ import annotations

import itertools
import sys
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.markup import escape

from gripctl.cli.context import state
from gripctl.cli.selection import (
    apply_selection,
    environment_option,
    include_dependents_option,
    include_needs_option,
    only_option,
    selector_option,
)
from gripctl.model import Graph, Platform, load_platform


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
    app_state = state(ctx)
    platform = load_platform(app_state.root, environment)
    full = Graph.from_platform(platform)
    selected = apply_selection(platform, full, only, include_needs, include_dependents, selector)
    shown = full.subgraph(selected)
    if app_state.output.json or fmt is GraphFormat.json:
        app_state.output.document(graph_document(platform, shown))
    elif fmt is GraphFormat.dot:
        sys.stdout.write(to_dot(platform, shown))
    else:
        out = app_state.output
        waves = shown.waves()
        out.line(
            f"environment {escape(platform.environment.name)}: "
            f"{len(shown.nodes)} releases in {len(waves)} waves"
        )
        for number, wave in enumerate(waves, start=1):
            out.line(f"wave {number}", style="bold")
            for release_id in wave:
                needs = shown.needs(release_id)
                after = f"  (after {', '.join(needs)})" if needs else ""
                out.line(f"  {escape(release_id)}{escape(after)}")
        path = shown.critical_path()
        out.line(f"critical path ({len(path)} releases): {escape(' -> '.join(path) or '(empty)')}")


def graph_document(platform: Platform, graph: Graph) -> dict[str, Any]:
    """The JSON form: waves, the critical path, and edges as {from, to} (from runs before to)."""
    return {
        "environment": platform.environment.name,
        "waves": graph.waves(),
        "critical_path": graph.critical_path(),
        "edges": [{"from": need, "to": dependent} for need, dependent in graph.edges()],
    }


def to_dot(platform: Platform, graph: Graph) -> str:
    """A Graphviz digraph: secrets releases dashed, critical-path edges bold."""
    critical = graph.critical_path()
    on_path = set(itertools.pairwise(critical))
    lines = ["digraph gripctl {", "  rankdir=LR;", "  node [shape=box, fontname=Helvetica];"]
    for number, wave in enumerate(graph.waves(), start=1):
        lines.append(f'  subgraph "wave_{number}" {{ rank=same;')
        for release_id in wave:
            style = ", style=dashed" if platform.releases[release_id].secrets_for else ""
            lines.append(f'    "{release_id}" [label="{release_id}"{style}];')
        lines.append("  }")
    for need, dependent in graph.edges():
        style = " [style=bold, color=red]" if (need, dependent) in on_path else ""
        lines.append(f'  "{need}" -> "{dependent}"{style};')
    lines.append("}")
    return "\n".join(lines) + "\n"
