"""Output conventions shared by every command: human (Rich), plain lines (no TTY), or JSON.

Every command renders through an `Output`: `--output json` prints exactly one JSON document on
stdout (or JSON lines for streams), human output goes to a Rich console, and errors always go to
stderr so that stdout stays machine-readable.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text


class OutputFormat(StrEnum):
    text = "text"
    wide = "wide"  # text with nothing cut short (as kubectl's -o wide)
    json = "json"


@dataclass(frozen=True)
class Column:
    """A table column: its header is never cut; a `flex` column takes the room left and is cut with an
    ellipsis to fit the screen (full text: `-o wide`, `-o json`, or the `show` command)."""

    header: str
    flex: bool = False
    justify: Literal["left", "right"] = "left"


def _default(obj: object) -> object:
    if isinstance(obj, datetime):
        return obj.isoformat()
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if isinstance(obj, set | frozenset):
        return sorted(obj)
    return str(obj)


def to_json(obj: object) -> str:
    return json.dumps(obj, default=_default, sort_keys=False)


@dataclass
class Output:
    format: OutputFormat = OutputFormat.text
    console: Console = field(default_factory=lambda: Console(highlight=False))
    err: Console = field(default_factory=lambda: Console(stderr=True, highlight=False))

    def __post_init__(self) -> None:
        if self.format is OutputFormat.wide:  # lines as long as their content, for grep and wide screens
            self.console = Console(highlight=False, width=100_000, soft_wrap=True)

    @property
    def json(self) -> bool:
        return self.format is OutputFormat.json

    @property
    def wide(self) -> bool:
        return self.format is OutputFormat.wide

    @property
    def interactive(self) -> bool:
        """A human at a terminal: live progress and prompts are allowed."""
        return not self.json and self.console.is_terminal

    def table(self, columns: list[Column], rows: list[list[RenderableType]]) -> None:
        """Rows that fit the screen: one line each, headers whole, the `flex` cells cut with an ellipsis
        (kubectl's way). Columns are sized to their content; only what does not fit is cut."""
        widths = _widths(columns, rows, self.console.width)
        table = Table(box=None, header_style="bold", pad_edge=False, collapse_padding=True, expand=False)
        for c, width in zip(columns, widths, strict=True):
            table.add_column(c.header, no_wrap=True, overflow="ellipsis", width=width, justify=c.justify)
        for row in rows:
            table.add_row(*row)
        self.console.print(table)

    def document(self, obj: Any) -> None:
        """Print the one JSON result document of a command (only in json mode)."""
        sys.stdout.write(to_json(obj) + "\n")
        sys.stdout.flush()

    def event(self, obj: dict[str, Any]) -> None:
        """Stream one JSON event line (json mode) — for long-running commands."""
        obj = {"ts": datetime.now(UTC).isoformat(timespec="milliseconds"), **obj}
        sys.stdout.write(to_json(obj) + "\n")
        sys.stdout.flush()

    def line(self, text: str = "", style: str | None = None) -> None:
        """A human line; suppressed in json mode so stdout stays one document."""
        if not self.json:
            self.console.print(text, style=style, soft_wrap=True)

    def plain(self, text: str) -> None:
        """A timestamped plain line for CI logs (no TTY)."""
        if not self.json:
            stamp = datetime.now(UTC).strftime("%H:%M:%S")
            self.console.print(f"{stamp} {text}", highlight=False, soft_wrap=True, markup=False)

    def warn(self, text: str) -> None:
        self.err.print(f"[yellow]warning:[/yellow] {text}", soft_wrap=True)

    def error(self, text: str) -> None:
        self.err.print(f"[bold red]error:[/bold red] {text}", soft_wrap=True, markup=True)


def _cell_len(cell: RenderableType) -> int:
    if isinstance(cell, Text):
        return cell.cell_len
    return Text(str(cell)).cell_len


def _widths(columns: list[Column], rows: list[list[RenderableType]], screen: int) -> list[int]:
    """Each column as wide as its content; when that is too wide, the flex columns take what is left
    (never less than their header), then every column shrinks in proportion, never below its header."""
    natural = [max([len(c.header)] + [_cell_len(row[i]) for row in rows]) for i, c in enumerate(columns)]
    room = screen - (len(columns) - 1)  # one space between columns
    if sum(natural) <= room:
        return natural
    fixed = sum(w for w, c in zip(natural, columns, strict=True) if not c.flex)
    flex = [i for i, c in enumerate(columns) if c.flex]
    if flex and room - fixed >= sum(len(columns[i].header) for i in flex):
        left = room - fixed
        out = list(natural)
        for n, i in enumerate(flex):
            share = left // (len(flex) - n)
            out[i] = max(len(columns[i].header), min(natural[i], share))
            left -= out[i]
        return out
    floor = [len(c.header) for c in columns]
    spare = max(0, room - sum(floor))
    extra = [w - f for w, f in zip(natural, floor, strict=True)]
    total = sum(extra) or 1
    return [f + e * spare // total for f, e in zip(floor, extra, strict=True)]
