"""Saved plans, by digest, and the decisions on them: approvals of exactly one plan, which may expire,
and rejections, which veto the plan for good."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, or_, select

from gripctl.errors import ApprovalError, UsageError
from gripctl.ledger import schema as t
from gripctl.ledger.db import LedgerBase
from gripctl.ledger.types import (
    PLAN_ID_LENGTH,
    ApprovalDecision,
    ApprovalMethod,
    ApprovalRecord,
    PlanRecord,
)

_APPROVED = ApprovalDecision.approved.value
_REJECTED = ApprovalDecision.rejected.value


class PlanRecords(LedgerBase):
    def save_plan(
        self,
        plan_digest: str,
        environment: str,
        body: dict[str, Any],
        git_commit: str | None,
        *,
        requested_by: str | None = None,
    ) -> PlanRecord:
        """Store a plan by digest; saving the same digest again keeps the first copy. Whether it has
        changes is read from the body's `has_changes` (gripctl.plan.serialize)."""
        with self._tx() as s:
            row = s.get(t.Plan, plan_digest)
            if row is None:
                row = t.Plan(
                    digest=plan_digest,
                    id=plan_digest[:PLAN_ID_LENGTH],
                    environment=environment,
                    created_at=self.clock(),
                    body=body,
                    git_commit=git_commit,
                    requested_by=requested_by,
                    has_changes=body.get("has_changes") is True,
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

    def approve(
        self,
        plan_id_or_digest: str,
        approver: str,
        comment: str | None = None,
        *,
        method: ApprovalMethod | str | None = None,
        expires_at: datetime | None = None,
    ) -> ApprovalRecord:
        """Approve a saved plan; approving again as the same person while the first approval holds
        returns it. A rejected plan cannot be approved (ApprovalError): compute a new plan instead."""
        method = ApprovalMethod(method) if method is not None else None
        now = self.clock()
        if expires_at is not None and expires_at <= now:
            raise ValueError(f"an approval expiring at {expires_at.isoformat()} would never count")
        plan = self._saved_plan(plan_id_or_digest, "approve")
        with self._tx() as s:
            rejection = s.scalar(_decisions(plan.digest).where(t.Approval.decision == _REJECTED).limit(1))
            if rejection is not None:
                raise ApprovalError(
                    f"plan {plan.id} for {plan.environment} was rejected by {rejection.approver} "
                    f"at {rejection.approved_at:%Y-%m-%d %H:%M} UTC ({rejection.reason}); "
                    "a rejected plan cannot be approved",
                    hint=f"fix what the rejection names, then `gripctl plan -e {plan.environment}` "
                    "computes a new plan to approve",
                )
            existing = s.scalar(
                _decisions(plan.digest).where(t.Approval.approver == approver, _holds(now)).limit(1)
            )
            if existing is not None:
                return _approval(existing)
            row = t.Approval(
                plan_digest=plan.digest,
                approver=approver,
                approved_at=now,
                comment=comment,
                decision=_APPROVED,
                method=method.value if method else None,
                expires_at=expires_at,
            )
            s.add(row)
            s.flush()
            return _approval(row)

    def reject(
        self,
        plan_id_or_digest: str,
        who: str,
        reason: str,
        *,
        method: ApprovalMethod | str | None = None,
    ) -> ApprovalRecord:
        """Reject a saved plan: from now on none of its approvals counts, and none can be added.
        Rejecting again as the same person returns the first rejection."""
        method = ApprovalMethod(method) if method is not None else None
        if not reason.strip():
            raise UsageError(
                f"rejecting plan {plan_id_or_digest!r} needs a reason",
                hint="say what is wrong with the plan, so that its author can fix it",
            )
        plan = self._saved_plan(plan_id_or_digest, "reject")
        with self._tx() as s:
            existing = s.scalar(
                _decisions(plan.digest)
                .where(t.Approval.approver == who, t.Approval.decision == _REJECTED)
                .limit(1)
            )
            if existing is not None:
                return _approval(existing)
            row = t.Approval(
                plan_digest=plan.digest,
                approver=who,
                approved_at=self.clock(),
                decision=_REJECTED,
                reason=reason.strip(),
                method=method.value if method else None,
            )
            s.add(row)
            s.flush()
            return _approval(row)

    def approvals(self, plan_digest: str) -> list[ApprovalRecord]:
        """Every decision on the plan, approvals and rejections, expired or not, oldest first."""
        with self._tx(read=True) as s:
            return [_approval(a) for a in s.scalars(_decisions(plan_digest))]

    def valid_approvals(self, plan_digest: str) -> list[ApprovalRecord]:
        """The approvals that count now: unexpired, and none at all once the plan was rejected."""
        now = self.clock()
        rejected = exists().where(t.Approval.plan_digest == plan_digest, t.Approval.decision == _REJECTED)
        with self._tx(read=True) as s:
            if s.scalar(select(rejected)):
                return []
            return [_approval(a) for a in s.scalars(_decisions(plan_digest).where(_holds(now)))]

    def pending_plans(self, environment: str, limit: int = 50) -> list[PlanRecord]:
        """The environment's plans with changes that await a decision (no approval that holds, no
        rejection), newest first."""
        decided = exists().where(
            t.Approval.plan_digest == t.Plan.digest,
            or_(t.Approval.decision == _REJECTED, _holds(self.clock())),
        )
        query = (
            select(t.Plan)
            .where(t.Plan.environment == environment, t.Plan.has_changes, ~decided)
            .order_by(t.Plan.created_at.desc(), t.Plan.digest)
            .limit(limit)
        )
        with self._tx(read=True) as s:
            return [_plan(p) for p in s.scalars(query)]

    def expired_approvals(self, since: datetime, until: datetime) -> list[ApprovalRecord]:
        """Approvals that expired in [since, until), oldest first (what an expiry sweep reports)."""
        query = (
            select(t.Approval)
            .where(
                t.Approval.decision == _APPROVED,
                t.Approval.expires_at >= since,
                t.Approval.expires_at < until,
            )
            .order_by(t.Approval.expires_at, t.Approval.id)
        )
        with self._tx(read=True) as s:
            return [_approval(a) for a in s.scalars(query)]

    def latest_other_approval(self, environment: str, plan_digest: str) -> ApprovalRecord | None:
        """The newest approval in `environment` of a plan other than `plan_digest` (expired or not):
        what to name when a deploy's plan differs from the one that was approved."""
        query = (
            select(t.Approval)
            .join(t.Plan, t.Plan.digest == t.Approval.plan_digest)
            .where(
                t.Plan.environment == environment,
                t.Approval.plan_digest != plan_digest,
                t.Approval.decision == _APPROVED,
            )
            .order_by(t.Approval.id.desc())
            .limit(1)
        )
        with self._tx(read=True) as s:
            row = s.scalar(query)
            return _approval(row) if row is not None else None

    def _saved_plan(self, plan_id_or_digest: str, verb: str) -> PlanRecord:
        plan = self.get_plan(plan_id_or_digest)
        if plan is None:
            raise UsageError(
                f"no saved plan {plan_id_or_digest!r} in the ledger {self.url}",
                hint=f"run `gripctl plan -e ENV` and {verb} the plan id it prints",
            )
        return plan


def _decisions(plan_digest: str) -> Select[t.Approval]:
    return select(t.Approval).where(t.Approval.plan_digest == plan_digest).order_by(t.Approval.id)


def _holds(now: datetime) -> ColumnElement[bool]:
    """An approval that has not expired."""
    return and_(
        t.Approval.decision == _APPROVED, or_(t.Approval.expires_at.is_(None), t.Approval.expires_at > now)
    )


def _plan(p: t.Plan) -> PlanRecord:
    return PlanRecord(
        p.digest, p.id, p.environment, p.created_at, p.body, p.git_commit, p.requested_by, p.has_changes
    )


def _approval(a: t.Approval) -> ApprovalRecord:
    return ApprovalRecord(
        id=a.id,
        plan_digest=a.plan_digest,
        approver=a.approver,
        approved_at=a.approved_at,
        comment=a.comment,
        decision=ApprovalDecision(a.decision),
        reason=a.reason,
        method=ApprovalMethod(a.method) if a.method else None,
        expires_at=a.expires_at,
    )
