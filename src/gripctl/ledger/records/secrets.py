"""Secret rotations: which keys of a component were rotated, when and by whom (names only, never values)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from gripctl.ledger import schema as t
from gripctl.ledger.db import LedgerBase
from gripctl.ledger.types import SecretRotationRecord


class SecretRecords(LedgerBase):
    def record_secret_rotation(
        self, component: str, keys: Sequence[str], actor: str, environment: str | None = None
    ) -> int:
        """Record that a component's secret keys were rotated: key *names* only, never values."""
        if isinstance(keys, str):
            raise TypeError("keys is a list of key names")
        row = t.SecretRotation(
            ts=self.clock(), component=component, keys=sorted(keys), actor=actor, environment=environment
        )
        with self._tx() as s:
            s.add(row)
            s.flush()
            return row.id

    def secret_rotations(self, component: str | None = None, limit: int = 100) -> list[SecretRotationRecord]:
        query = select(t.SecretRotation).order_by(t.SecretRotation.id.desc()).limit(limit)
        if component is not None:
            query = query.where(t.SecretRotation.component == component)
        with self._tx(read=True) as s:
            return [
                SecretRotationRecord(r.id, r.ts, r.component, tuple(r.keys), r.actor, r.environment)
                for r in s.scalars(query)
            ]
