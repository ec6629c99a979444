"""gripctl metrics: the four DORA keys from the ledger, as a table, JSON or Prometheus text."""

from __future__ import annotations

import re
import sys
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from gripctl.cli.context import state
from gripctl.errors import UsageError

if TYPE_CHECKING:
    from gripctl.metrics.dora import DoraReport

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class MetricsFormat(StrEnum):
    table = "table"
    prometheus = "prometheus"


def parse_time(text: str, *, now: datetime, option: str) -> datetime:
    """`90d`/`12h`/`2w` before `now`, or an ISO 8601 date or time (UTC unless it says otherwise)."""
    text = text.strip()
    match = _DURATION.match(text)
    if match:
        return now - timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"{option} {text!r} is neither a duration nor a date",
            hint=f"use e.g. {option} 90d, {option} 12h, or {option} 2026-01-31T00:00:00Z",
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _seconds(x: float | None) -> str:
    if x is None:
        return "no data"
    if x < 120:
        return f"{x:.0f}s"
    if x < 2 * 3600:
        return f"{x / 60:.0f}m"
    if x < 2 * 86400:
        return f"{x / 3600:.1f}h"
    return f"{x / 86400:.1f}d"


def _table(report: DoraReport) -> Table:
    w = report.window
    title = f"DORA metrics {w.since:%Y-%m-%d %H:%M} → {w.until:%Y-%m-%d %H:%M} UTC ({w.days:g} days)"
    table = Table(title=title, title_justify="left")
    for column in (
        "environment",
        "deploys/day",
        "band",
        "lead time",
        "change failure",
        "time to restore",
        "recovery",
    ):
        table.add_column(column)
    for m in report.environments:
        table.add_row(
            m.environment,
            "no data" if m.deploys_per_day is None else f"{m.deploys_per_day:.2f} ({m.deploys} deploys)",
            m.frequency_band.value if m.frequency_band else "no data",
            f"{_seconds(m.lead_time_seconds)} ({m.lead_time_commits} commits)",
            "no data"
            if m.change_failure_rate is None
            else f"{m.change_failure_rate:.0%} ({m.failed_deploys}/{m.finished_deploys})",
            f"{_seconds(m.time_to_restore_seconds)} ({m.incidents_resolved} resolved, "
            f"{m.incidents_unresolved} open)",
            f"{_seconds(m.recovery_seconds)} ({m.recoveries})",
        )
    return table


def register(app: typer.Typer) -> None:
    @app.command("metrics")
    def metrics(
        ctx: typer.Context,
        environment: Annotated[
            list[str] | None, typer.Option("--environment", "-e", help="Only this environment (repeatable).")
        ] = None,
        since: Annotated[
            str, typer.Option(help="Window start: a duration before --until (90d, 12h) or a date.")
        ] = "90d",
        until: Annotated[
            str | None, typer.Option(help="Window end (exclusive): a date, or a duration before now.")
        ] = None,
        fmt: Annotated[
            MetricsFormat, typer.Option("--format", "-f", help="Text output: table or prometheus.")
        ] = (MetricsFormat.table),
        database_url: Annotated[
            str | None,
            typer.Option("--database-url", help="Ledger database (default: $GRIPCTL_DATABASE_URL)."),
        ] = None,
    ) -> None:
        """The four DORA keys per environment: deployment frequency, lead time for changes, change failure
        rate, time to restore. Definitions: docs/metrics.md."""
        # The ledger and the metrics queries need SQLAlchemy: imported here, not for `--help`.
        from gripctl.ledger import open_ledger
        from gripctl.metrics import compute, deploy_totals
        from gripctl.metrics.dora import Window
        from gripctl.metrics.prometheus import render

        st = state(ctx)
        now = datetime.now(UTC)
        end = parse_time(until, now=now, option="--until") if until else now
        start = parse_time(since, now=end, option="--since")
        if start >= end:
            raise UsageError(
                f"the window is empty: --since {since} is not before --until {until or 'now'}",
                hint="give a --since earlier than --until",
            )
        with open_ledger(database_url, root=st.root) as ledger:
            report = compute(ledger.engine, Window(start, end), environment or None)
            totals = (
                deploy_totals(ledger.engine, environment or None) if fmt is MetricsFormat.prometheus else []
            )
        if st.output.json:
            st.output.document(report.to_dict())
        elif fmt is MetricsFormat.prometheus:
            sys.stdout.write(render(report, totals))
        elif not report.environments:
            st.output.line("no data: no deploys or incidents in the window")
        else:
            st.output.console.print(_table(report))
