"""gripctl incident: list, show, open, ack, resolve and escalate incidents."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from gripctl.cli.context import state
from gripctl.cli.options import as_option, environment_option
from gripctl.cli.output import Column
from gripctl.identity import actor as current_actor
from gripctl.ledger.types import IncidentStatus

# The incident service imports SQLAlchemy and the notifiers: commands import it in their bodies, so
# that `--help` does not pay for it.
if TYPE_CHECKING:
    from gripctl.ledger.types import IncidentRecord


incident_app = typer.Typer(
    help="Incidents: opened on failed deploys or by hand; acknowledged, escalated, resolved."
)

ActorOption = Annotated[str | None, as_option]


def _actor(actor: str | None) -> str:
    return actor or current_actor()


def _summary(record: IncidentRecord) -> dict[str, object]:
    data = record.to_dict()
    data.pop("events", None)
    return data


@incident_app.command("list")
def list_incidents(
    ctx: typer.Context,
    environment: Annotated[str | None, environment_option] = None,
    status: Annotated[IncidentStatus | None, typer.Option(help="open, acknowledged or resolved.")] = None,
) -> None:
    """Incidents, newest first (full titles: `incident show ID`, `-o wide`, `-o json`)."""
    from gripctl.service.incidents import list_incidents as get

    st = state(ctx)
    records = get(st.root, environment=environment, status=status)
    if st.output.json:
        st.output.document([_summary(r) for r in records])
        return
    if not records:
        st.output.line("no incidents")
        return
    st.output.table(
        [Column(h) for h in ("id", "sev", "status", "env", "release", "opened")]
        + [Column("title", flex=True)],
        [
            [
                str(r.id),
                str(r.severity),
                str(r.status),
                r.environment,
                r.release_id or "-",
                f"{r.opened_at:%Y-%m-%d %H:%M}",
                r.title,
            ]
            for r in records
        ],
    )


@incident_app.command("show")
def show(ctx: typer.Context, incident_id: int) -> None:
    """One incident and its timeline (opened, notified, acknowledged, escalated, resolved, root cause)."""
    from gripctl.service.incidents import show as get

    st = state(ctx)
    record = get(st.root, incident_id)
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
    environment: Annotated[str, environment_option],
    severity: Annotated[str | None, typer.Option(help="P0-P3 (default: by the severity rules).")] = None,
    release: Annotated[str | None, typer.Option(help="The release involved.")] = None,
    actor: ActorOption = None,
) -> None:
    """Open an incident by hand; its escalation path starts now."""
    from gripctl.service.incidents import open_incident as record_incident

    st = state(ctx)
    record = record_incident(
        st.root, environment, title, actor=_actor(actor), severity=severity, release_id=release
    )
    st.output.document(_summary(record)) if st.output.json else st.output.line(
        f"opened incident #{record.id} [{record.severity}] in {environment}"
    )


@incident_app.command("ack")
def ack(ctx: typer.Context, incident_id: int, actor: ActorOption = None) -> None:
    """Acknowledge an incident: you own it, and its escalation stops."""
    from gripctl.service.incidents import acknowledge

    st = state(ctx)
    record = acknowledge(st.root, incident_id, _actor(actor))
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
    from gripctl.service.incidents import resolve as close

    st = state(ctx)
    record = close(st.root, incident_id, _actor(actor), rca)
    st.output.document(_summary(record)) if st.output.json else st.output.line(
        f"resolved incident #{incident_id}"
    )


@incident_app.command("tick")
def tick(ctx: typer.Context) -> None:
    """Escalate every incident not acknowledged in time (run from cron or CI; the server runs it itself)."""
    from gripctl.service.incidents import tick as escalate

    st = state(ctx)
    escalated = escalate(st.root)
    if st.output.json:
        st.output.document([_summary(r) for r in escalated])
        return
    for r in escalated:
        st.output.line(f"escalated incident #{r.id} to level {r.escalation_level}")
    if not escalated:
        st.output.line("nothing to escalate")


def register(app: typer.Typer) -> None:
    app.add_typer(incident_app, name="incident")
