"""Shared command-line options for choosing an environment and releases, so every command offers the same.

Use them as Annotated metadata (Typer copies the option info, so sharing one instance is safe):

    def deploy(
        ctx: typer.Context,
        environment: Annotated[str | None, environment_option] = None,
        only: Annotated[list[str] | None, only_option] = None,
        include_needs: Annotated[bool, include_needs_option] = False,
        include_dependents: Annotated[bool, include_dependents_option] = False,
        selector: Annotated[list[str] | None, selector_option] = None,
    ) -> None:
        platform = load_platform(state(ctx).root, environment)
        graph = Graph.from_platform(platform)
        ids = apply_selection(platform, graph, only, include_needs, include_dependents, selector)

The selection rules are in `gripctl.model.selection` and docs/config.md ("Selecting releases").
"""

from __future__ import annotations

from collections.abc import Sequence

import typer

from gripctl.model.graph import Graph
from gripctl.model.selection import select
from gripctl.model.types import Platform

environment_option = typer.Option(
    "--environment",
    "-e",
    metavar="ENV",
    envvar="GRIPCTL_ENVIRONMENT",
    help="Environment from gripctl.yaml (default: the only one, else a neutral 'default' without values).",
    show_default=False,
)
only_option = typer.Option(
    "--only",
    metavar="ID",
    help="Act only on these release ids (repeat, or separate with commas).",
    show_default=False,
)
include_needs_option = typer.Option(
    "--include-needs",
    help="Also act on everything the selected releases need, transitively.",
)
include_dependents_option = typer.Option(
    "--include-dependents",
    help="Also act on everything that needs the selected releases, transitively.",
)
selector_option = typer.Option(
    "--selector",
    "-l",
    metavar="KEY=VALUE",
    help="Label selector key=value or key!=value; commas mean AND, repeating the option means OR. "
    "Built-in labels: id, name, namespace.",
    show_default=False,
)


def split_only(only: Sequence[str] | None) -> list[str]:
    """`--only a,b --only c` -> [a, b, c] (empty items dropped)."""
    return [item.strip() for value in only or () for item in value.split(",") if item.strip()]


def apply_selection(
    platform: Platform,
    graph: Graph,
    only: Sequence[str] | None = None,
    include_needs: bool = False,
    include_dependents: bool = False,
    selectors: Sequence[str] | None = None,
) -> list[str]:
    """The release ids the shared options select, in topological order (UsageError for unknown ids)."""
    return select(
        platform,
        graph,
        only=split_only(only),
        include_needs=include_needs,
        include_dependents=include_dependents,
        selectors=list(selectors or ()),
    )
