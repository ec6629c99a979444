"""Incidents: list, show, open by hand, acknowledge, resolve, and escalate those not acknowledged."""

from __future__ import annotations

from pathlib import Path

from gripctl.errors import UsageError
from gripctl.incidents.config import Cause
from gripctl.incidents.service import IncidentService
from gripctl.incidents.setup import incident_service
from gripctl.ledger.types import IncidentRecord, IncidentStatus
from gripctl.service.workspace import ledger_of


def _service(root: Path) -> IncidentService:
    return incident_service(root)


def list_incidents(
    root: Path, *, environment: str | None = None, status: IncidentStatus | None = None
) -> list[IncidentRecord]:
    """Incidents, newest first (reading needs no notifier: the platform's ledger alone)."""
    return ledger_of(root).incidents(status=status, environment=environment)


def show(root: Path, incident_id: int) -> IncidentRecord:
    """One incident with its timeline (opened, notified, acknowledged, escalated, resolved)."""
    record = ledger_of(root).incident(incident_id)
    if record is None:
        raise UsageError(f"no incident #{incident_id}", hint="list them with `gripctl incident list`")
    return record


def open_incident(
    root: Path,
    environment: str,
    title: str,
    *,
    actor: str,
    severity: str | None = None,
    release_id: str | None = None,
) -> IncidentRecord:
    """Open an incident by hand; its escalation path starts now."""
    return _service(root).open(
        environment, title, Cause.manual, severity=severity, release_id=release_id, actor=actor
    )


def acknowledge(root: Path, incident_id: int, actor: str, source: str = "cli") -> IncidentRecord:
    """Acknowledge (the escalation clock stops); recorded in the audit log."""
    service = _service(root)
    record = service.acknowledge(incident_id, actor)
    service.ledger.record_audit(
        actor, source, "incident.ack", str(incident_id), {"environment": record.environment}
    )
    return record


def resolve(root: Path, incident_id: int, actor: str, rca: str | None, source: str = "cli") -> IncidentRecord:
    """Resolve with an optional root cause; recorded in the audit log."""
    service = _service(root)
    record = service.resolve(incident_id, actor, rca)
    detail = {"environment": record.environment, **({"rca": rca} if rca else {})}
    service.ledger.record_audit(actor, source, "incident.resolve", str(incident_id), detail)
    return record


def tick(root: Path) -> list[IncidentRecord]:
    """Escalate every incident not acknowledged in time (the server's worker runs this on its own)."""
    return _service(root).tick()
