"""Saved plans, by digest, and the approvals given for exactly one plan."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from gripctl.errors import UsageError
from gripctl.ledger import schema as t
from gripctl.ledger.db import LedgerBase
from gripctl.ledger.types import ApprovalRecord, PlanRecord


class PlanRecords(LedgerBase):
    def save_plan(
        self, plan_digest: str, environment: str, body: dict[str, Any], git_commit: str | None
    ) -> PlanRecord:
        """Store a plan by digest; saving the same digest again keeps the first copy."""
        with self._tx() as s:
            row = s.get(t.Plan, plan_digest)
            if row is None:
                row = t.Plan(
                    digest=plan_digest,
                    id=plan_digest[:12],
                    environment=environment,
                    created_at=self.clock(),
                    body=body,
                    git_commit=git_commit,
                )
                s.add(row)
            return _plan(row)

    def get_plan(self, id_or_digest: str) -> PlanRecord | None:
        """A plan by full digest, 12-digit id, or any unambiguous prefix of at least 6 hex digits."""
        key = id_or_digest.strip().lower()
        with self._tx(read=True) as s:
            row = s.get(t.Plan, key)
            if row is not None:
                return _plan(row)
            if len(key) < 6:
                return None
            rows = list(
                s.scalars(select(t.Plan).where(t.Plan.digest.startswith(key, autoescape=True)).limit(2))
            )
            if len(rows) > 1:
                raise UsageError(
                    f"plan id {id_or_digest!r} matches several saved plans",
                    hint="give more digits of the plan digest",
                )
            return _plan(rows[0]) if rows else None

    def approve(self, plan_id_or_digest: str, approver: str, comment: str | None = None) -> ApprovalRecord:
        """Approve a saved plan; approving twice as the same person returns the first approval."""
        plan = self.get_plan(plan_id_or_digest)
        if plan is None:
            raise UsageError(
                f"no saved plan {plan_id_or_digest!r} in the ledger {self.url}",
                hint="run `gripctl plan -e ENV` and approve the plan id it prints",
            )
        with self._tx() as s:
            existing = s.scalar(
                select(t.Approval).where(
                    t.Approval.plan_digest == plan.digest, t.Approval.approver == approver
                )
            )
            if existing is not None:
                return _approval(existing)
            row = t.Approval(
                plan_digest=plan.digest, approver=approver, approved_at=self.clock(), comment=comment
            )
            s.add(row)
            s.flush()
            return _approval(row)

    def approvals(self, plan_digest: str) -> list[ApprovalRecord]:
        query = select(t.Approval).where(t.Approval.plan_digest == plan_digest).order_by(t.Approval.id)
        with self._tx(read=True) as s:
            return [_approval(a) for a in s.scalars(query)]


def _plan(p: t.Plan) -> PlanRecord:
    return PlanRecord(p.digest, p.id, p.environment, p.created_at, p.body, p.git_commit)


def _approval(a: t.Approval) -> ApprovalRecord:
    return ApprovalRecord(a.id, a.plan_digest, a.approver, a.approved_at, a.comment)
