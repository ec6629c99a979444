"""Environment locks (one changing run per environment, taken over only when expired), the crash
recovery they make possible (a running run without a live lock was interrupted), and named leases (one
leader among several server replicas) taken the same way."""

from __future__ import annotations

import os
import socket
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, exists, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import InstrumentedAttribute, Session

from gripctl.ledger import schema as t
from gripctl.ledger.db import LedgerBase, rowcount
from gripctl.ledger.records.runs import run_record
from gripctl.ledger.types import ActionOutcome, EnvLockRecord, LeaseRecord, RunOutcome, RunRecord


class LockRecords(LedgerBase):
    def acquire_env_lock(
        self,
        environment: str,
        run_id: int,
        holder: str,
        ttl_seconds: float,
        *,
        host: str | None = None,
        pid: int | None = None,
    ) -> bool:
        """Take the environment's lock for `run_id`: insert it, or take it over only when it expired (or
        this run already holds it). Atomic on both backends. False when someone else holds it; read
        who with env_lock()."""
        now = self.clock()
        values = {
            "environment": environment,
            "run_id": run_id,
            "holder": holder,
            "host": host or socket.gethostname(),
            "pid": os.getpid() if pid is None else pid,
            "acquired_at": now,
            "heartbeat_at": now,
            "expires_at": now + timedelta(seconds=ttl_seconds),
        }
        with self._tx() as s:
            return _claim(
                s,
                t.EnvLock.environment,
                values,
                takeover=or_(t.EnvLock.expires_at < now, t.EnvLock.run_id == run_id),
            )

    def env_lock(self, environment: str) -> EnvLockRecord | None:
        """Who holds the environment's lock (possibly expired: compare expires_at with now)."""
        with self._tx(read=True) as s:
            row = s.get(t.EnvLock, environment)
            return _lock(row) if row is not None else None

    def heartbeat_env_lock(self, environment: str, run_id: int, ttl_seconds: float) -> bool:
        """Extend the lock; False if this run no longer holds it (it expired and someone took it over)."""
        now = self.clock()
        with self._tx() as s:
            result = s.execute(
                update(t.EnvLock)
                .where(t.EnvLock.environment == environment, t.EnvLock.run_id == run_id)
                .values(heartbeat_at=now, expires_at=now + timedelta(seconds=ttl_seconds))
                .execution_options(synchronize_session=False)
            )
            return rowcount(result) == 1

    def release_env_lock(self, environment: str, run_id: int) -> bool:
        """Drop the lock if this run holds it; False if it did not."""
        with self._tx() as s:
            row = s.get(t.EnvLock, environment)
            if row is None or row.run_id != run_id:
                return False
            s.delete(row)
            return True

    def interrupted_runs(self, environment: str) -> list[RunRecord]:
        """Runs still marked running whose process no longer holds a live lock: crashed or killed."""
        now = self.clock()
        live_lock = exists().where(
            t.EnvLock.environment == t.Run.environment,
            t.EnvLock.run_id == t.Run.id,
            t.EnvLock.expires_at >= now,
        )
        query = (
            select(t.Run)
            .where(t.Run.environment == environment, t.Run.outcome == RunOutcome.running.value, ~live_lock)
            .order_by(t.Run.id)
        )
        with self._tx(read=True) as s:
            return [run_record(r) for r in s.scalars(query)]

    def mark_interrupted(self, run_id: int, error: str | None = None) -> None:
        """Close a crashed run and its unfinished actions as interrupted (no-op if already finished)."""
        now = self.clock()
        with self._tx() as s:
            row = self._get(s, t.Run, run_id, "run")
            if row.outcome != RunOutcome.running.value:
                return
            row.outcome = RunOutcome.interrupted.value
            row.finished_at = now
            row.duration_seconds = (now - row.started_at).total_seconds()
            row.error = error or "the run's process stopped before finishing (lock expired)"
            s.execute(
                update(t.ReleaseAction)
                .where(
                    t.ReleaseAction.run_id == run_id,
                    t.ReleaseAction.outcome.in_([ActionOutcome.pending.value, ActionOutcome.running.value]),
                )
                .values(outcome=ActionOutcome.interrupted.value, finished_at=now)
                .execution_options(synchronize_session=False)
            )

    # --- leases ------------------------------------------------------------------------------------

    def try_lease(self, name: str, holder: str, ttl_seconds: float) -> bool:
        """Take or renew the lease `name` for `holder` until now + ttl: True when `holder` holds it
        afterwards. Taken over only when it expired; atomic on both backends, so of several replicas
        racing for it exactly one wins. A holder renews by calling again well within the TTL."""
        if ttl_seconds <= 0:
            raise ValueError(f"lease {name!r}: ttl_seconds must be positive, not {ttl_seconds}")
        if not name or not holder:
            raise ValueError("a lease needs a name and a holder")
        now = self.clock()
        values = {
            "name": name,
            "holder": holder,
            "expires_at": now + timedelta(seconds=ttl_seconds),
            "renewed_at": now,
        }
        with self._tx() as s:
            return _claim(
                s, t.Lease.name, values, takeover=or_(t.Lease.expires_at < now, t.Lease.holder == holder)
            )

    def release_lease(self, name: str, holder: str) -> bool:
        """Give the lease up at once (say, on shutdown); False if `holder` did not hold it."""
        with self._tx() as s:
            result = s.execute(
                delete(t.Lease)
                .where(t.Lease.name == name, t.Lease.holder == holder)
                .execution_options(synchronize_session=False)
            )
            return rowcount(result) == 1

    def lease(self, name: str) -> LeaseRecord | None:
        """Who holds the lease (possibly expired: compare expires_at with now)."""
        with self._tx(read=True) as s:
            row = s.get(t.Lease, name)
            return LeaseRecord(row.name, row.holder, row.expires_at, row.renewed_at) if row else None


def _claim(
    s: Session, key: InstrumentedAttribute[str], values: dict[str, Any], *, takeover: ColumnElement[bool]
) -> bool:
    """Insert the row `values` describes, or, when its key exists, overwrite it only where `takeover`
    holds, in one conditional UPDATE: of two racing claimants exactly one matches (PostgreSQL re-checks
    the WHERE clause after waiting for the other's row lock; SQLite writers are serialised)."""
    model = key.class_
    dialect = s.get_bind().dialect.name
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)
    inserted = s.execute(insert.values(**values).on_conflict_do_nothing(index_elements=[key.key]))
    if rowcount(inserted) == 1:
        return True
    taken = s.execute(
        update(model)
        .where(key == values[key.key], takeover)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return rowcount(taken) == 1


def _lock(lk: t.EnvLock) -> EnvLockRecord:
    return EnvLockRecord(
        lk.environment, lk.run_id, lk.holder, lk.host, lk.pid, lk.acquired_at, lk.heartbeat_at, lk.expires_at
    )
