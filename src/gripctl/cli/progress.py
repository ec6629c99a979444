"""How the command line shows a run: Rich Live on a terminal, plain lines in CI, JSON lines, and a
GitHub Actions job summary. Each is an engine `EventSink`; the engine knows none of them."""

from __future__ import annotations

import time
from pathlib import Path

from rich.live import Live
from rich.table import Table
from rich.text import Text

from gripctl.cli.output import Output
from gripctl.engine.events import EngineEvent, EventKind, Phase

_STYLE = {
    Phase.pending: "dim",
    Phase.unchanged: "dim",
    Phase.unlocking: "magenta",
    Phase.deploying: "cyan",
    Phase.verifying: "cyan",
    Phase.monitoring: "blue",
    Phase.healthy: "green",
    Phase.failed: "bold red",
    Phase.rolling_back: "yellow",
    Phase.rolled_back: "yellow",
    Phase.uninstalled: "yellow",
    Phase.skipped: "dim",
}


class PlainSink:
    """Timestamped lines for logs without a terminal."""

    def __init__(self, output: Output) -> None:
        self.output = output

    def handle(self, event: EngineEvent) -> None:
        who = f"{event.release_id}: " if event.release_id else ""
        phase = f"[{event.phase.value}] " if event.phase and event.kind is not EventKind.note else ""
        self.output.plain(f"{who}{phase}{event.message}")

    def close(self) -> None:
        pass


class JsonSink:
    """One JSON object per event on stdout (`--output json`)."""

    def __init__(self, output: Output) -> None:
        self.output = output

    def handle(self, event: EngineEvent) -> None:
        self.output.event(event.to_dict())

    def close(self) -> None:
        pass


class _Row:
    def __init__(self) -> None:
        self.phase = Phase.pending
        self.started: float | None = None
        self.finished: float | None = None
        self.detail = ""


class LiveSink:
    """A live table of the releases, refreshed on every event (a terminal only)."""

    def __init__(self, output: Output, release_ids: list[str], needs: dict[str, tuple[str, ...]]) -> None:
        self.rows = {rid: _Row() for rid in release_ids}
        self.needs = needs
        self.messages: list[str] = []
        self.live = Live(self._table(), console=output.console, refresh_per_second=4, transient=False)
        self.live.start()

    def _table(self) -> Table:
        table = Table(box=None, pad_edge=False, show_header=True, header_style="bold")
        table.add_column("release")
        table.add_column("needs", style="dim")
        table.add_column("state")
        table.add_column("time", justify="right")
        table.add_column("detail", overflow="fold")
        now = time.time()
        for rid, row in self.rows.items():
            elapsed = ""
            if row.started:
                elapsed = f"{(row.finished or now) - row.started:5.1f}s"
            table.add_row(
                rid,
                ", ".join(self.needs.get(rid, ())),
                Text(row.phase.value, style=_STYLE[row.phase]),
                elapsed,
                Text(row.detail),
            )
        for message in self.messages[-3:]:
            table.add_row("", "", "", "", Text(message, style="dim"))
        return table

    def handle(self, event: EngineEvent) -> None:
        row = self.rows.get(event.release_id or "")
        if row is None:
            self.messages.append(event.message)
        else:
            if event.phase is not None and event.kind is not EventKind.note:
                row.phase = event.phase
                if row.started is None and event.phase not in (Phase.pending, Phase.unchanged, Phase.skipped):
                    row.started = event.ts
                if event.phase.done:
                    row.finished = event.ts
            row.detail = event.message
        self.live.update(self._table())

    def close(self) -> None:
        self.live.update(self._table())
        self.live.stop()


class GithubSummarySink:
    """Appends a Markdown table of the run to $GITHUB_STEP_SUMMARY when the run ends."""

    def __init__(self, path: Path, environment: str) -> None:
        self.path, self.environment = path, environment
        self.phase: dict[str, tuple[Phase, str]] = {}
        self.run_id: int | None = None
        self.outcome = ""

    def handle(self, event: EngineEvent) -> None:
        self.run_id = event.run_id or self.run_id
        if event.release_id and event.phase is not None and event.kind is not EventKind.note:
            self.phase[event.release_id] = (event.phase, event.message)
        if event.kind is EventKind.run_finished:
            self.outcome = event.message

    def close(self) -> None:
        if not self.phase and not self.outcome:
            return
        lines = [
            f"### gripctl deploy: {self.environment} (run {self.run_id})",
            "",
            self.outcome,
            "",
            "| release | state | detail |",
            "|---|---|---|",
        ]
        for rid, (phase, message) in self.phase.items():
            cell = message.replace("|", "\\|")
            lines.append(f"| `{rid}` | {phase.value} | {cell} |")
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n\n")
