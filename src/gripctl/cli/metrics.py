"""gripctl metrics: the four DORA keys from the ledger, as a table, JSON or Prometheus text."""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import RenderableType

from gripctl.cli.context import state
from gripctl.cli.output import Column

if TYPE_CHECKING:
    from gripctl.metrics.dora import DoraReport


class MetricsFormat(StrEnum):
    table = "table"
    prometheus = "prometheus"


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


def _title(report: DoraReport) -> str:
    w = report.window
    return f"DORA metrics {w.since:%Y-%m-%d %H:%M} → {w.until:%Y-%m-%d %H:%M} UTC ({w.days:g} days)"


def _columns() -> list[Column]:
    headers = (
        "environment",
        "deploys",
        "per day",
        "band",
        "lead time",
        "failure rate",
        "restore",
        "recovery",
    )
    return [
        Column(h, flex=h == "environment", justify="left" if h in ("environment", "band") else "right")
        for h in headers
    ]


def _rows(report: DoraReport, *, wide: bool) -> list[list[RenderableType]]:
    """One line per environment; `-o wide` adds the counts behind each figure."""
    rows: list[list[RenderableType]] = []
    for m in report.environments:
        lead = _seconds(m.lead_time_seconds) + (f" ({m.lead_time_commits} commits)" if wide else "")
        rate = "no data" if m.change_failure_rate is None else f"{m.change_failure_rate:.0%}"
        if wide and m.change_failure_rate is not None:
            rate += f" ({m.failed_deploys}/{m.finished_deploys})"
        restore = _seconds(m.time_to_restore_seconds)
        if wide:
            restore += f" ({m.incidents_resolved} resolved, {m.incidents_unresolved} open)"
        recovery = _seconds(m.recovery_seconds) + (f" ({m.recoveries})" if wide else "")
        per_day = "no data" if m.deploys_per_day is None else f"{m.deploys_per_day:.2f}"
        band = m.frequency_band.value if m.frequency_band else "no data"
        rows.append([m.environment, str(m.deploys), per_day, band, lead, rate, restore, recovery])
    return rows


def register(app: typer.Typer) -> None:
    @app.command("metrics")
    def metrics(
        ctx: typer.Context,
        environment: Annotated[
            list[str] | None,
            typer.Option(
                "--environment",
                "-e",
                metavar="ENV",
                envvar="GRIPCTL_ENVIRONMENT",
                help="Only this environment (repeatable).",
                show_default=False,
            ),
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
        from gripctl.service.metrics import MetricsRequest
        from gripctl.service.metrics import metrics as compute

        st = state(ctx)
        prometheus = fmt is MetricsFormat.prometheus
        result = compute(
            MetricsRequest(st.root, tuple(environment or ()), since, until, database_url, totals=prometheus)
        )
        report = result.report
        if st.output.json:
            st.output.document(result.to_dict())
        elif prometheus:
            sys.stdout.write(result.prometheus())
        elif not report.environments:
            st.output.line("no data: no deploys or incidents in the window")
        else:
            st.output.console.print(_title(report))
            st.output.table(_columns(), _rows(report, wide=st.output.wide))
