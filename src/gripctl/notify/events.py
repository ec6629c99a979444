"""The events gripctl tells people about, as plain data: what happened, where, and how bad."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class EventKind(StrEnum):
    deploy_started = "deploy.started"
    deploy_succeeded = "deploy.succeeded"
    deploy_failed = "deploy.failed"
    deploy_rolled_back = "deploy.rolled_back"
    approval_requested = "approval.requested"
    drift_detected = "drift.detected"  # live objects differ from what a release applied (once per new drift)
    incident_opened = "incident.opened"
    incident_acknowledged = "incident.acknowledged"
    incident_escalated = "incident.escalated"
    incident_resolved = "incident.resolved"


SEVERITIES = ("P0", "P1", "P2", "P3")  # P0 is the worst


def severity_rank(severity: str | None) -> int:
    """0 for P0 ... 3 for P3; events without a severity rank below P3."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES)


@dataclass(frozen=True)
class NotifyEvent:
    kind: EventKind
    environment: str
    title: str
    text: str = ""
    severity: str | None = None
    run_id: int | None = None
    incident_id: int | None = None
    release_id: str | None = None
    links: dict[str, str] = field(default_factory=dict)
    # Stable per incident so PagerDuty's trigger/acknowledge/resolve act on one alert.
    dedup_key: str | None = None
    escalation_level: str | None = None
