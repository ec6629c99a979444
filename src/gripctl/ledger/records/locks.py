"""Environment locks (one changing run per environment, taken over only when expired) and the crash
recovery they make possible: a running run without a live lock was interrupted."""

from __future__ import annotations

import os
import socket
from datetime import timedelta

from sqlalchemy import exists, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from gripctl.ledger import schema as t
from gripctl.ledger.db import LedgerBase, rowcount
from gripctl.ledger.records.runs import run_record
from gripctl.ledger.types import ActionOutcome, EnvLockRecord, RunOutcome, RunRecord


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
        insert = (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(t.EnvLock)
        with self._tx() as s:
            inserted = s.execute(
                insert.values(**values).on_conflict_do_nothing(index_elements=["environment"])
            )
            if rowcount(inserted) == 1:
                return True
            # The row exists: take it over only if its holder stopped heartbeating, in one UPDATE so that
            # of two racing takers exactly one matches the WHERE clause.
            taken = s.execute(
                update(t.EnvLock)
                .where(
                    t.EnvLock.environment == environment,
                    or_(t.EnvLock.expires_at < now, t.EnvLock.run_id == run_id),
                )
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            return rowcount(taken) == 1

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


def _lock(lk: t.EnvLock) -> EnvLockRecord:
    return EnvLockRecord(
        lk.environment, lk.run_id, lk.holder, lk.host, lk.pid, lk.acquired_at, lk.heartbeat_at, lk.expires_at
    )
