"""Incidents: open (automatically on failure, or by hand), acknowledge, escalate, resolve — each step
recorded in the ledger's incident timeline and announced through the notifier."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from gripctl.errors import UsageError
from gripctl.incidents.config import Cause, IncidentsConfig
from gripctl.ledger import IncidentEventKind, IncidentRecord, IncidentStatus, Ledger, NotificationOutcome
from gripctl.notify.events import EventKind, NotifyEvent
from gripctl.notify.router import Notifier, Outcome


def _now() -> datetime:
    return datetime.now(UTC)


def dedup_key(incident_id: int) -> str:
    """Stable per incident, so PagerDuty's trigger, acknowledge and resolve act on one alert."""
    return f"gripctl/incident/{incident_id}"


@dataclass
class IncidentService:
    ledger: Ledger
    config: IncidentsConfig
    notifier: Notifier | None = None
    clock: Callable[[], datetime] = _now

    def open(
        self,
        environment: str,
        title: str,
        cause: Cause,
        *,
        severity: str | None = None,
        release_id: str | None = None,
        run_id: int | None = None,
        text: str = "",
        actor: str | None = None,
    ) -> IncidentRecord:
        """Open an incident with the severity the rules give (unless `severity` is forced) and notify
        escalation level 0 plus every route that matches `incident.opened`."""
        severity = severity or self.config.severity_for(environment, cause)
        first = self.config.escalation[0] if self.config.escalation else None
        next_at = self._after(first.after_seconds) if first else None
        incident_id = self.ledger.open_incident(
            environment,
            title,
            severity,
            release_id=release_id,
            run_id=run_id,
            next_escalation_at=next_at,
            actor=actor,
            message=f"{cause}: {text}" if text else str(cause),
        )
        # The dedup key needs the id, which the ledger only knows after the insert.
        record = self.get(incident_id)
        event = self._event(EventKind.incident_opened, record, text=text)
        self._announce(record, event, extra_channels=first.notify if first else ())
        return self.get(incident_id)

    def acknowledge(self, incident_id: int, actor: str) -> IncidentRecord:
        record = self.get(incident_id)
        if record.status is IncidentStatus.resolved:
            raise UsageError(f"incident #{incident_id} is already resolved", hint="nothing to acknowledge")
        # Acknowledging stops the escalation clock: someone owns it now.
        self.ledger.update_incident(incident_id, status=IncidentStatus.acknowledged, next_escalation_at=None)
        self.ledger.add_incident_event(
            incident_id, IncidentEventKind.acknowledged, f"acknowledged by {actor}", actor
        )
        record = self.get(incident_id)
        self._announce(
            record, self._event(EventKind.incident_acknowledged, record, text=f"acknowledged by {actor}")
        )
        return record

    def resolve(self, incident_id: int, actor: str, rca: str | None = None) -> IncidentRecord:
        record = self.get(incident_id)
        if record.status is IncidentStatus.resolved:
            raise UsageError(
                f"incident #{incident_id} is already resolved (at {record.resolved_at:%Y-%m-%d %H:%M})"
            )
        self.ledger.update_incident(incident_id, status=IncidentStatus.resolved, rca=rca)
        self.ledger.add_incident_event(incident_id, IncidentEventKind.resolved, f"resolved by {actor}", actor)
        if rca:
            self.ledger.add_incident_event(incident_id, IncidentEventKind.root_cause, rca, actor)
        record = self.get(incident_id)
        self._announce(
            record,
            self._event(EventKind.incident_resolved, record, text=rca or ""),
            extra_channels=self._paged(incident_id),
        )
        return record

    def tick(self) -> list[IncidentRecord]:
        """Escalate every incident whose time at its level ran out unacknowledged; returns them."""
        escalated: list[IncidentRecord] = []
        for record in self.ledger.due_escalations(self.clock()):
            if record.status is not IncidentStatus.open:
                continue
            level = record.escalation_level + 1
            if level >= len(self.config.escalation):
                self.ledger.update_incident(record.id, next_escalation_at=None)  # top of the path
                continue
            target = self.config.escalation[level]
            next_at = self._after(target.after_seconds)
            self.ledger.update_incident(record.id, escalation_level=level, next_escalation_at=next_at)
            self.ledger.add_incident_event(
                record.id,
                IncidentEventKind.escalated,
                f"not acknowledged in time: escalated to {target.name}",
            )
            updated = self.get(record.id)
            event = self._event(EventKind.incident_escalated, updated, level_name=target.name)
            self._announce(updated, event, extra_channels=target.notify, only_extra=True)
            escalated.append(updated)
        return escalated

    def get(self, incident_id: int) -> IncidentRecord:
        record = self.ledger.incident(incident_id)
        if record is None:
            raise UsageError(f"no incident #{incident_id}", hint="list them with `gripctl incident list`")
        return record

    # --- internals ---------------------------------------------------------------------------------

    def _paged(self, incident_id: int) -> tuple[str, ...]:
        """Channels that were told about this incident: they hear its acknowledgement and resolution too
        (PagerDuty in particular must receive `resolve` for the alert it was sent)."""
        delivered = self.ledger.notifications(incident_id=incident_id, limit=1000)
        return tuple(dict.fromkeys(n.channel for n in reversed(delivered) if n.outcome == "delivered"))

    def _after(self, seconds: float | None) -> datetime | None:
        return None if seconds is None else self.clock() + timedelta(seconds=seconds)

    def _event(
        self, kind: EventKind, record: IncidentRecord, *, text: str = "", level_name: str | None = None
    ) -> NotifyEvent:
        return NotifyEvent(
            kind=kind,
            environment=record.environment,
            title=f"incident #{record.id}: {record.title}",
            text=text,
            severity=str(record.severity),
            run_id=record.run_id,
            incident_id=record.id,
            release_id=record.release_id,
            dedup_key=dedup_key(record.id),
            escalation_level=level_name,
        )

    def _announce(
        self,
        record: IncidentRecord,
        event: NotifyEvent,
        *,
        extra_channels: tuple[str, ...] = (),
        only_extra: bool = False,
    ) -> list[Outcome]:
        if self.notifier is None:
            return []
        channels = list(extra_channels)
        if not only_extra:
            channels += [c for c in self.notifier.channels_for(event) if c not in channels]
        outcomes = self.notifier.notify(event, channels=channels)
        for outcome in outcomes:
            verdict = "delivered" if outcome.delivered else f"failed ({outcome.error})"
            self.ledger.add_incident_event(
                record.id, IncidentEventKind.notified, f"{event.kind} to {outcome.channel}: {verdict}"
            )
        return outcomes


def ledger_recorder(ledger: Ledger) -> Callable[[Outcome], None]:
    """A Notifier recorder that writes every delivery outcome to the ledger."""

    def record(outcome: Outcome) -> None:
        ledger.record_notification(
            outcome.channel,
            str(outcome.event.kind),
            NotificationOutcome.delivered if outcome.delivered else NotificationOutcome.failed,
            outcome.attempts,
            incident_id=outcome.event.incident_id,
            run_id=outcome.event.run_id,
            status_code=outcome.status_code,
            error=outcome.error,
        )

    return record
