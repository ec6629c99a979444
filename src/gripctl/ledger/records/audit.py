"""The audit log: who did what to which target, from where (a client address, or "cli"), and when."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import select

from gripctl.ledger import schema as t
from gripctl.ledger.db import LedgerBase
from gripctl.ledger.types import AuditRecord

# Dotted lowercase words: approve, deploy, incident.ack, token.create.
ACTION = re.compile(r"[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)*")
MAX_PAGE = 1000


class AuditRecords(LedgerBase):
    def record_audit(
        self,
        actor: str,
        source: str,
        action: str,
        target: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> int:
        """Append an entry. `detail` must be JSON-serialisable and must not carry secrets."""
        if not actor or not source:
            raise ValueError("an audit entry needs an actor and a source (a client address, or 'cli')")
        if len(action) > 64 or not ACTION.fullmatch(action):
            raise ValueError(f"audit action {action!r} is not dotted lowercase words (e.g. incident.ack)")
        if detail is not None and not isinstance(detail, dict):
            raise TypeError("audit detail is a JSON object (a dict)")
        row = t.AuditEntry(
            ts=self.clock(), actor=actor, source=source, action=action, target=target, detail=detail
        )
        with self._tx() as s:
            s.add(row)
            s.flush()
            return row.id

    def audit_log(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        before: int | None = None,
        limit: int = 100,
    ) -> list[AuditRecord]:
        """Entries newest first, filtered by actor, action and time (`since`, inclusive). Pages: pass the
        last id of a page as `before` to get the next, older one."""
        if not 1 <= limit <= MAX_PAGE:
            raise ValueError(f"an audit page holds 1 to {MAX_PAGE} entries, not {limit}")
        query = select(t.AuditEntry).order_by(t.AuditEntry.id.desc()).limit(limit)
        if actor is not None:
            query = query.where(t.AuditEntry.actor == actor)
        if action is not None:
            query = query.where(t.AuditEntry.action == action)
        if since is not None:
            query = query.where(t.AuditEntry.ts >= since)
        if before is not None:
            query = query.where(t.AuditEntry.id < before)
        with self._tx(read=True) as s:
            return [
                AuditRecord(e.id, e.ts, e.actor, e.source, e.action, e.target, e.detail)
                for e in s.scalars(query)
            ]
