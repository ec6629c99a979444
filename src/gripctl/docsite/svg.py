"""The release dependency graph drawn as SVG: one column per wave, no Graphviz needed.

The graph's waves already give a layered layout (a release sits in the first wave after all its needs),
so drawing it needs no layout engine: columns are waves, rows keep the graph's order within a wave, and
each edge is a curve from a need's right side to its dependent's left side. Secrets releases are
dashed, the critical path is drawn bold and red, as `gripctl graph --format dot` does. The output is
deterministic (same platform, same bytes), so the published site only changes when the graph does.
"""

from __future__ import annotations

import itertools
from html import escape

from gripctl.model import Graph

BOX_HEIGHT = 30
ROW_GAP = 16
COLUMN_GAP = 70
MARGIN = 20
CHAR_WIDTH = 7.2  # 12px sans-serif, generous enough for ids in most fonts
HEADER = 24


def _box_width(waves: list[list[str]]) -> list[float]:
    return [max((len(node) for node in wave), default=4) * CHAR_WIDTH + 20 for wave in waves]


def graph_svg(graph: Graph, secrets: set[str] | frozenset[str] = frozenset(), title: str = "") -> str:
    """An SVG document of `graph`; `secrets` are the ids drawn dashed."""
    waves = graph.waves()
    widths = _box_width(waves)
    positions: dict[str, tuple[float, float, float]] = {}  # id -> (x, y, width)
    x = float(MARGIN)
    for column, wave in enumerate(waves):
        for row, node in enumerate(wave):
            y = MARGIN + HEADER + row * (BOX_HEIGHT + ROW_GAP)
            positions[node] = (x, y, widths[column])
        x += widths[column] + COLUMN_GAP
    tallest = max((len(w) for w in waves), default=0)
    width = max(x - COLUMN_GAP + MARGIN, 2 * MARGIN + 200)
    height = MARGIN * 2 + HEADER + max(tallest * (BOX_HEIGHT + ROW_GAP) - ROW_GAP, BOX_HEIGHT)
    critical = set(itertools.pairwise(graph.critical_path()))

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" role="img" '
        f'aria-label="{escape(title or "dependency graph")}" '
        'font-family="Helvetica, Arial, sans-serif" font-size="12">',
        f"<title>{escape(title or 'dependency graph')}</title>",
        "<defs>"
        '<marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker>'
        '<marker id="arrow-critical" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#c62828"/></marker>'
        "</defs>",
        '<rect width="100%" height="100%" fill="#ffffff"/>',
    ]
    x = float(MARGIN)
    for column, _wave in enumerate(waves):
        out.append(
            f'<text x="{x + widths[column] / 2:.1f}" y="{MARGIN + 10}" text-anchor="middle" '
            f'fill="#777">wave {column + 1}</text>'
        )
        x += widths[column] + COLUMN_GAP
    for need, dependent in graph.edges():
        x1, y1, w1 = positions[need]
        x2, y2, _ = positions[dependent]
        start = (x1 + w1, y1 + BOX_HEIGHT / 2)
        end = (x2, y2 + BOX_HEIGHT / 2)
        bend = (end[0] - start[0]) / 2
        on_path = (need, dependent) in critical
        stroke = 'stroke="#c62828" stroke-width="2.2"' if on_path else 'stroke="#555" stroke-width="1.2"'
        marker = "arrow-critical" if on_path else "arrow"
        out.append(
            f'<path class="edge" data-from="{escape(need)}" data-to="{escape(dependent)}" '
            f'd="M{start[0]:.1f},{start[1]:.1f} C{start[0] + bend:.1f},{start[1]:.1f} '
            f'{end[0] - bend:.1f},{end[1]:.1f} {end[0]:.1f},{end[1]:.1f}" fill="none" {stroke} '
            f'marker-end="url(#{marker})"/>'
        )
    for node, (nx, ny, nw) in positions.items():
        dash = ' stroke-dasharray="5,3"' if node in secrets else ""
        fill = "#f5f5f5" if node in secrets else "#e3f2fd"
        out.append(
            f'<g class="release" id="release-{escape(node)}">'
            f'<rect x="{nx:.1f}" y="{ny:.1f}" width="{nw:.1f}" height="{BOX_HEIGHT}" rx="5" '
            f'fill="{fill}" stroke="#1e5a8a"{dash}/>'
            f'<text x="{nx + nw / 2:.1f}" y="{ny + BOX_HEIGHT / 2 + 4:.1f}" text-anchor="middle">'
            f"{escape(node)}</text></g>"
        )
    out.append("</svg>")
    return "\n".join(out) + "\n"
