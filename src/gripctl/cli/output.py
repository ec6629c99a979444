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
from typing import Any

from rich.console import Console


class OutputFormat(StrEnum):
    text = "text"
    json = "json"


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

    @property
    def json(self) -> bool:
        return self.format is OutputFormat.json

    @property
    def interactive(self) -> bool:
        """A human at a terminal: live progress and prompts are allowed."""
        return not self.json and self.console.is_terminal

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
