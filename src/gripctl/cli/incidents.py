"""gripctl incident: list, show, open, ack, resolve and escalate incidents."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from gripctl.cli.context import state
from gripctl.ledger.types import IncidentStatus

# The incident service imports SQLAlchemy and the notifiers: commands import it in their bodies, so
# that `--help` does not pay for it.
if TYPE_CHECKING:
    from gripctl.incidents.service import IncidentService
    from gripctl.ledger.types import IncidentRecord


incident_app = typer.Typer(
    help="Incidents: opened on failed deploys or by hand; acknowledged, escalated, resolved."
)

ActorOption = Annotated[
    str | None,
    typer.Option("--as", help="Who you are (default: $GRIPCTL_USER, then $USER).", show_default=False),
]


def _service(root: Path) -> IncidentService:
    from gripctl.incidents.setup import incident_service

    return incident_service(root)


def _actor(actor: str | None) -> str:
    return actor or os.environ.get("GRIPCTL_USER") or os.environ.get("USER") or "unknown"


def _summary(record: IncidentRecord) -> dict[str, object]:
    data = record.to_dict()
    data.pop("events", None)
    return data


@incident_app.command("list")
def list_incidents(
    ctx: typer.Context,
    environment: Annotated[str | None, typer.Option("--environment", "-e")] = None,
    status: Annotated[IncidentStatus | None, typer.Option(help="open, acknowledged or resolved.")] = None,
) -> None:
    """Incidents, newest first."""
    st = state(ctx)
    records = _service(st.root).ledger.incidents(status=status, environment=environment)
    if st.output.json:
        st.output.document([_summary(r) for r in records])
        return
    if not records:
        st.output.line("no incidents")
        return
    table = Table("id", "sev", "status", "environment", "release", "opened", "title")
    for r in records:
        table.add_row(
            str(r.id),
            str(r.severity),
            str(r.status),
            r.environment,
            r.release_id or "-",
            f"{r.opened_at:%Y-%m-%d %H:%M}",
            r.title,
        )
    st.output.console.print(table)


@incident_app.command("show")
def show(ctx: typer.Context, incident_id: int) -> None:
    """One incident and its timeline (opened, notified, acknowledged, escalated, resolved, root cause)."""
    st = state(ctx)
    record = _service(st.root)._get(incident_id)
    if st.output.json:
        st.output.document(record.to_dict())
        return
    out = st.output
    out.line(f"[bold]#{record.id} [{record.severity}] {record.title}[/bold]")
    out.line(
        f"environment {record.environment}  release {record.release_id or '-'}  run {record.run_id or '-'}"
    )
    out.line(f"status {record.status}  escalation level {record.escalation_level}")
    if record.rca:
        out.line(f"root cause: {record.rca}")
    for e in record.events:
        who = f" ({e.actor})" if e.actor else ""
        out.line(f"  {e.ts:%Y-%m-%d %H:%M:%S}  {e.kind:<12} {e.message}{who}")


@incident_app.command("open")
def open_incident(
    ctx: typer.Context,
    title: str,
    environment: Annotated[str, typer.Option("--environment", "-e")],
    severity: Annotated[str | None, typer.Option(help="P0-P3 (default: by the severity rules).")] = None,
    release: Annotated[str | None, typer.Option(help="The release involved.")] = None,
    actor: ActorOption = None,
) -> None:
    """Open an incident by hand; its escalation path starts now."""
    from gripctl.incidents.config import Cause

    st = state(ctx)
    record = _service(st.root).open(
        environment, title, Cause.manual, severity=severity, release_id=release, actor=_actor(actor)
    )
    st.output.document(_summary(record)) if st.output.json else st.output.line(
        f"opened incident #{record.id} [{record.severity}] in {environment}"
    )


@incident_app.command("ack")
def ack(ctx: typer.Context, incident_id: int, actor: ActorOption = None) -> None:
    """Acknowledge an incident: you own it, and its escalation stops."""
    st = state(ctx)
    record = _service(st.root).acknowledge(incident_id, _actor(actor))
    st.output.document(_summary(record)) if st.output.json else st.output.line(
        f"acknowledged incident #{incident_id}"
    )


@incident_app.command("resolve")
def resolve(
    ctx: typer.Context,
    incident_id: int,
    rca: Annotated[
        str | None, typer.Option("--rca", help="The root cause, for the timeline and the review.")
    ] = None,
    actor: ActorOption = None,
) -> None:
    """Resolve an incident (with its root cause); PagerDuty's alert is resolved too."""
    st = state(ctx)
    record = _service(st.root).resolve(incident_id, _actor(actor), rca)
    st.output.document(_summary(record)) if st.output.json else st.output.line(
        f"resolved incident #{incident_id}"
    )


@incident_app.command("tick")
def tick(ctx: typer.Context) -> None:
    """Escalate every incident not acknowledged in time (run from cron or CI; the server runs it itself)."""
    st = state(ctx)
    escalated = _service(st.root).tick()
    if st.output.json:
        st.output.document([_summary(r) for r in escalated])
        return
    for r in escalated:
        st.output.line(f"escalated incident #{r.id} to level {r.escalation_level}")
    if not escalated:
        st.output.line("nothing to escalate")


def register(app: typer.Typer) -> None:
    app.add_typer(incident_app, name="incident")
