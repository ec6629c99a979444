"""The dependency graph of a platform's releases: waves that deploy together, and the critical path."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gripctl.model.graph import Graph
from gripctl.model.selection import Selection
from gripctl.model.types import Platform
from gripctl.service.workspace import load, selected


@dataclass(frozen=True)
class GraphRequest:
    root: Path
    environment: str | None = None
    selection: Selection = field(default_factory=Selection)


@dataclass
class GraphResult:
    platform: Platform
    graph: Graph

    @property
    def environment(self) -> str:
        return self.platform.environment.name

    def to_dict(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "waves": self.graph.waves(),
            "critical_path": self.graph.critical_path(),
            "edges": [{"from": need, "to": dependent} for need, dependent in self.graph.edges()],
        }

    def to_dot(self) -> str:
        """A Graphviz digraph: secrets releases dashed, critical-path edges bold."""
        on_path = set(itertools.pairwise(self.graph.critical_path()))
        lines = ["digraph gripctl {", "  rankdir=LR;", "  node [shape=box, fontname=Helvetica];"]
        for number, wave in enumerate(self.graph.waves(), start=1):
            lines.append(f'  subgraph "wave_{number}" {{ rank=same;')
            for release_id in wave:
                style = ", style=dashed" if self.platform.releases[release_id].secrets_for else ""
                lines.append(f'    "{release_id}" [label="{release_id}"{style}];')
            lines.append("  }")
        for need, dependent in self.graph.edges():
            style = " [style=bold, color=red]" if (need, dependent) in on_path else ""
            lines.append(f'  "{need}" -> "{dependent}"{style};')
        lines.append("}")
        return "\n".join(lines) + "\n"


def graph(req: GraphRequest) -> GraphResult:
    platform = load(req.root, req.environment)
    ids = selected(platform, req.selection, allow_empty=True)
    return GraphResult(platform, Graph.from_platform(platform).subgraph(ids))
