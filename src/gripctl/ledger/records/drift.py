"""Drift findings: a release that differs from the repository (`repository`) or whose live objects
differ from its helm release (`live`), from first sighting until a check finds it gone.

The fingerprint (sha256 of the finding) tells a new drift from the same one seen again, so that a
periodic check notifies once per drift. Per (environment, release, kind) at most one finding is open
(a partial unique index): a different drift closes the previous one and opens its own."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from gripctl.ledger import schema as t
from gripctl.ledger.db import LedgerBase, rowcount
from gripctl.ledger.records import check_sha256
from gripctl.ledger.types import DriftKind, DriftRecord


class DriftRecords(LedgerBase):
    def record_drift(
        self, environment: str, release_id: str, kind: DriftKind | str, fingerprint: str, findings: Any
    ) -> bool:
        """Record what a check found; True when it is a NEW drift (no open finding has this
        fingerprint), False when it is the one already open (its last_seen moves on). `findings` are
        JSON, already masked: they must not carry secrets."""
        kind = DriftKind(kind)
        check_sha256(fingerprint, "fingerprint")
        if findings is None:
            raise ValueError("findings are the objects and field paths that drifted, not None")
        try:
            return self._record_drift(environment, release_id, kind, fingerprint, findings)
        except IntegrityError:
            # A concurrent check (PostgreSQL) opened a finding for this release first: look again.
            return self._record_drift(environment, release_id, kind, fingerprint, findings)

    def _record_drift(
        self, environment: str, release_id: str, kind: DriftKind, fingerprint: str, findings: Any
    ) -> bool:
        now = self.clock()
        with self._tx() as s:
            current = s.scalar(
                select(t.DriftFinding)
                .where(
                    t.DriftFinding.environment == environment,
                    t.DriftFinding.release_id == release_id,
                    t.DriftFinding.kind == kind.value,
                    t.DriftFinding.resolved_at.is_(None),
                )
                .with_for_update()
            )
            if current is not None and current.fingerprint == fingerprint:
                current.last_seen = now
                return False
            if current is not None:
                current.resolved_at = now
                s.flush()  # closed before the new one is inserted: the unique index allows one open
            s.add(
                t.DriftFinding(
                    environment=environment,
                    release_id=release_id,
                    kind=kind.value,
                    fingerprint=fingerprint,
                    findings=findings,
                    first_seen=now,
                    last_seen=now,
                )
            )
            s.flush()
            return True

    def resolve_drift(self, environment: str, release_id: str, kind: DriftKind | str) -> bool:
        """A check found no drift: close the open finding, if any (True when there was one)."""
        kind = DriftKind(kind)
        with self._tx() as s:
            result = s.execute(
                update(t.DriftFinding)
                .where(
                    t.DriftFinding.environment == environment,
                    t.DriftFinding.release_id == release_id,
                    t.DriftFinding.kind == kind.value,
                    t.DriftFinding.resolved_at.is_(None),
                )
                .values(resolved_at=self.clock())
                .execution_options(synchronize_session=False)
            )
            return rowcount(result) == 1

    def open_drift(self, environment: str | None = None) -> list[DriftRecord]:
        """Unresolved drift (of one environment, or all), by environment, release and kind."""
        query = (
            select(t.DriftFinding)
            .where(t.DriftFinding.resolved_at.is_(None))
            .order_by(t.DriftFinding.environment, t.DriftFinding.release_id, t.DriftFinding.kind)
        )
        if environment is not None:
            query = query.where(t.DriftFinding.environment == environment)
        with self._tx(read=True) as s:
            return [_drift(d) for d in s.scalars(query)]

    def drift_history(
        self, release_id: str | None = None, environment: str | None = None, limit: int = 100
    ) -> list[DriftRecord]:
        """Findings, open and resolved, newest first."""
        query = select(t.DriftFinding).order_by(t.DriftFinding.id.desc()).limit(limit)
        if release_id is not None:
            query = query.where(t.DriftFinding.release_id == release_id)
        if environment is not None:
            query = query.where(t.DriftFinding.environment == environment)
        with self._tx(read=True) as s:
            return [_drift(d) for d in s.scalars(query)]


def _drift(d: t.DriftFinding) -> DriftRecord:
    return DriftRecord(
        id=d.id,
        environment=d.environment,
        release_id=d.release_id,
        kind=DriftKind(d.kind),
        fingerprint=d.fingerprint,
        findings=d.findings,
        first_seen=d.first_seen,
        last_seen=d.last_seen,
        resolved_at=d.resolved_at,
    )
