"""Incidents with their event timelines and escalation times, and the notifications sent about them
(or about runs)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select

from gripctl.ledger import schema as t
from gripctl.ledger.db import UNSET, LedgerBase
from gripctl.ledger.types import (
    IncidentEventKind,
    IncidentEventRecord,
    IncidentRecord,
    IncidentStatus,
    NotificationOutcome,
    NotificationRecord,
    Severity,
)


class IncidentRecords(LedgerBase):
    def open_incident(
        self,
        environment: str,
        title: str,
        severity: Severity | str,
        *,
        release_id: str | None = None,
        run_id: int | None = None,
        dedup_key: str | None = None,
        next_escalation_at: datetime | None = None,
        actor: str | None = None,
        message: str | None = None,
    ) -> int:
        """Open an incident (and its `opened` event). With a dedup_key, an unresolved incident carrying
        the same key is returned instead of opening a second one."""
        now = self.clock()
        with self._tx() as s:
            if dedup_key is not None:
                existing = s.scalar(
                    select(t.Incident.id)
                    .where(
                        t.Incident.dedup_key == dedup_key, t.Incident.status != IncidentStatus.resolved.value
                    )
                    .order_by(t.Incident.id)
                    .limit(1)
                )
                if existing is not None:
                    return existing
            row = t.Incident(
                environment=environment,
                release_id=release_id,
                run_id=run_id,
                severity=Severity(severity).value,
                status=IncidentStatus.open.value,
                title=title,
                opened_at=now,
                escalation_level=0,
                next_escalation_at=next_escalation_at,
                dedup_key=dedup_key,
            )
            s.add(row)
            s.flush()
            s.add(
                t.IncidentEvent(
                    incident_id=row.id,
                    ts=now,
                    kind=IncidentEventKind.opened.value,
                    actor=actor,
                    message=message or title,
                )
            )
            return row.id

    def incident(self, incident_id: int) -> IncidentRecord | None:
        """One incident with its event timeline, or None."""
        with self._tx(read=True) as s:
            row = s.get(t.Incident, incident_id)
            if row is None:
                return None
            events = s.scalars(
                select(t.IncidentEvent)
                .where(t.IncidentEvent.incident_id == incident_id)
                .order_by(t.IncidentEvent.id)
            )
            return _incident(row, tuple(_incident_event(e) for e in events))

    def incidents(
        self,
        status: IncidentStatus | str | None = None,
        environment: str | None = None,
        limit: int = 100,
        *,
        environments: Sequence[str] | None = None,
        before: int | None = None,
    ) -> list[IncidentRecord]:
        """Incidents, newest first; pages: the last id of a page as `before` gives the next one."""
        query = select(t.Incident).order_by(t.Incident.id.desc()).limit(limit)
        if environments is not None:
            query = query.where(t.Incident.environment.in_(list(environments)))
        if before is not None:
            query = query.where(t.Incident.id < before)
        if status is not None:
            query = query.where(t.Incident.status == IncidentStatus(status).value)
        if environment is not None:
            query = query.where(t.Incident.environment == environment)
        with self._tx(read=True) as s:
            return [_incident(r) for r in s.scalars(query)]

    def run_incidents(self, run_ids: Sequence[int]) -> dict[int, list[IncidentRecord]]:
        """Run id -> the incidents linked to it (the link between deploys and incidents)."""
        if not run_ids:
            return {}
        query = select(t.Incident).where(t.Incident.run_id.in_(list(run_ids))).order_by(t.Incident.id)
        out: dict[int, list[IncidentRecord]] = {}
        with self._tx(read=True) as s:
            for row in s.scalars(query):
                if row.run_id is not None:
                    out.setdefault(row.run_id, []).append(_incident(row))
        return out

    def due_escalations(self, now: datetime | None = None) -> list[IncidentRecord]:
        """Unresolved incidents whose next escalation time has come."""
        now = now or self.clock()
        query = (
            select(t.Incident)
            .where(
                t.Incident.status != IncidentStatus.resolved.value,
                t.Incident.next_escalation_at.is_not(None),
                t.Incident.next_escalation_at <= now,
            )
            .order_by(t.Incident.next_escalation_at)
        )
        with self._tx(read=True) as s:
            return [_incident(r) for r in s.scalars(query)]

    def add_incident_event(
        self, incident_id: int, kind: IncidentEventKind | str, message: str, actor: str | None = None
    ) -> int:
        with self._tx() as s:
            self._get(s, t.Incident, incident_id, "incident")
            row = t.IncidentEvent(
                incident_id=incident_id,
                ts=self.clock(),
                kind=IncidentEventKind(kind).value,
                actor=actor,
                message=message,
            )
            s.add(row)
            s.flush()
            return row.id

    def update_incident(
        self,
        incident_id: int,
        *,
        status: IncidentStatus | str | None = None,
        severity: Severity | str | None = None,
        title: str | None = None,
        escalation_level: int | None = None,
        next_escalation_at: datetime | None = UNSET,
        rca: str | None = None,
        acknowledged_at: datetime | None = None,
        resolved_at: datetime | None = None,
    ) -> IncidentRecord:
        """Change an incident. Moving to acknowledged/resolved stamps the time (now unless given);
        next_escalation_at=None stops escalation (leave it out to keep the current value)."""
        now = self.clock()
        with self._tx() as s:
            row = self._get(s, t.Incident, incident_id, "incident")
            if status is not None:
                status = IncidentStatus(status)
                row.status = status.value
                if status is IncidentStatus.acknowledged and row.acknowledged_at is None:
                    row.acknowledged_at = acknowledged_at or now
                if status is IncidentStatus.resolved:
                    row.resolved_at = resolved_at or now
                    row.next_escalation_at = None
                    if row.acknowledged_at is None:
                        row.acknowledged_at = row.resolved_at
            if severity is not None:
                row.severity = Severity(severity).value
            if title is not None:
                row.title = title
            if escalation_level is not None:
                row.escalation_level = escalation_level
            if next_escalation_at is not UNSET:
                row.next_escalation_at = next_escalation_at
            if rca is not None:
                row.rca = rca
            s.flush()
            return _incident(row)

    def record_notification(
        self,
        channel: str,
        event_kind: str,
        outcome: NotificationOutcome | str,
        attempts: int,
        *,
        incident_id: int | None = None,
        run_id: int | None = None,
        status_code: int | None = None,
        error: str | None = None,
    ) -> int:
        row = t.Notification(
            ts=self.clock(),
            channel=channel,
            event_kind=event_kind,
            incident_id=incident_id,
            run_id=run_id,
            attempts=attempts,
            outcome=NotificationOutcome(outcome).value,
            status_code=status_code,
            error=error,
        )
        with self._tx() as s:
            s.add(row)
            s.flush()
            return row.id

    def notifications(
        self, *, incident_id: int | None = None, run_id: int | None = None, limit: int = 100
    ) -> list[NotificationRecord]:
        query = select(t.Notification).order_by(t.Notification.id.desc()).limit(limit)
        if incident_id is not None:
            query = query.where(t.Notification.incident_id == incident_id)
        if run_id is not None:
            query = query.where(t.Notification.run_id == run_id)
        with self._tx(read=True) as s:
            return [_notification(n) for n in s.scalars(query)]


def _incident(i: t.Incident, events: tuple[IncidentEventRecord, ...] = ()) -> IncidentRecord:
    return IncidentRecord(
        id=i.id,
        environment=i.environment,
        release_id=i.release_id,
        run_id=i.run_id,
        severity=Severity(i.severity),
        status=IncidentStatus(i.status),
        title=i.title,
        opened_at=i.opened_at,
        acknowledged_at=i.acknowledged_at,
        resolved_at=i.resolved_at,
        escalation_level=i.escalation_level,
        next_escalation_at=i.next_escalation_at,
        rca=i.rca,
        dedup_key=i.dedup_key,
        events=events,
    )


def _incident_event(e: t.IncidentEvent) -> IncidentEventRecord:
    return IncidentEventRecord(e.id, e.incident_id, e.ts, IncidentEventKind(e.kind), e.actor, e.message)


def _notification(n: t.Notification) -> NotificationRecord:
    return NotificationRecord(
        n.id,
        n.ts,
        n.channel,
        n.event_kind,
        n.incident_id,
        n.run_id,
        n.attempts,
        NotificationOutcome(n.outcome),
        n.status_code,
        n.error,
    )
