"""Decisions on plans: approvals (with method and expiry), rejections that veto a plan, the plans that
await a decision, and the newest approval of another plan; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gripctl.errors import ApprovalError, UsageError
from gripctl.ledger import ApprovalDecision, ApprovalMethod, Ledger
from gripctl.ledger.testing import Clock

A = "aa11" + "0" * 60
B = "bb22" + "0" * 60
C = "cc33" + "0" * 60


def body(has_changes: bool) -> dict[str, object]:
    return {"has_changes": has_changes, "releases": []}


def test_plan_records_who_requested_it_and_whether_it_changes_anything(ledger: Ledger) -> None:
    saved = ledger.save_plan(A, "prod", body(True), "c0ffee", requested_by="dana")
    assert (saved.requested_by, saved.has_changes) == ("dana", True)
    plan = ledger.get_plan(A)
    assert plan is not None and (plan.requested_by, plan.has_changes) == ("dana", True)
    untouched = ledger.save_plan(B, "prod", {}, None)
    assert (untouched.requested_by, untouched.has_changes) == (None, False)


def test_approval_records_method_and_expiry_and_counts_until_it_expires(ledger: Ledger, clock: Clock) -> None:
    ledger.save_plan(A, "prod", body(True), None)
    until = clock.now + timedelta(hours=1)
    given = ledger.approve(A, "bob", "ok", method="token", expires_at=until)
    assert (given.decision, given.method, given.expires_at, given.reason) == (
        ApprovalDecision.approved,
        ApprovalMethod.token,
        until,
        None,
    )
    assert given.plan_id == A[:12]
    assert ledger.approve(A, "bob", method="tty").id == given.id  # still holds: the same approval
    assert [a.id for a in ledger.valid_approvals(A)] == [given.id]

    clock.advance(3600)  # expires_at is exclusive: at that instant it no longer counts
    assert ledger.valid_approvals(A) == []
    again = ledger.approve(A, "bob", "re-approved", method=ApprovalMethod.ssh)
    assert again.id != given.id and again.expires_at is None
    assert [a.id for a in ledger.valid_approvals(A)] == [again.id]
    assert [a.id for a in ledger.approvals(A)] == [given.id, again.id]  # history keeps both


def test_rejection_vetoes_every_approval_and_shows_in_the_history(ledger: Ledger, clock: Clock) -> None:
    ledger.save_plan(A, "prod", body(True), None)
    approved = ledger.approve(A, "bob")
    clock.advance(60)
    rejected = ledger.reject(A[:12], "carol", "  drops the ingress  ", method="api")
    assert (rejected.decision, rejected.reason, rejected.method, rejected.approver) == (
        ApprovalDecision.rejected,
        "drops the ingress",
        ApprovalMethod.api,
        "carol",
    )
    assert rejected.approved_at == clock.now
    assert ledger.reject(A, "carol", "twice").id == rejected.id  # rejecting twice is one rejection
    assert ledger.valid_approvals(A) == []
    assert [(a.id, a.decision) for a in ledger.approvals(A)] == [
        (approved.id, ApprovalDecision.approved),
        (rejected.id, ApprovalDecision.rejected),
    ]


def test_a_rejected_plan_cannot_then_be_approved_and_nothing_is_written(ledger: Ledger) -> None:
    ledger.save_plan(A, "prod", body(True), None)
    ledger.reject(A, "carol", "drops the ingress")
    before = ledger.approvals(A)
    with pytest.raises(ApprovalError, match=r"plan aa1100000000 for prod was rejected by carol") as err:
        ledger.approve(A, "bob", "but I like it")
    assert "(drops the ingress)" in err.value.message
    assert "gripctl plan -e prod" in (err.value.hint or "")
    assert ledger.approvals(A) == before
    assert ledger.valid_approvals(A) == []


def test_rejecting_an_unknown_plan_or_without_a_reason_writes_nothing(ledger: Ledger) -> None:
    ledger.save_plan(A, "prod", body(True), None)
    with pytest.raises(UsageError, match=r"no saved plan 'deadbeef0000' in the ledger") as err:
        ledger.reject("deadbeef0000", "carol", "no")
    assert "reject the plan id it prints" in (err.value.hint or "")
    with pytest.raises(UsageError, match=r"rejecting plan 'aa1100000000' needs a reason"):
        ledger.reject("aa1100000000", "carol", "   ")
    with pytest.raises(ValueError, match="'carrier-pigeon' is not a valid ApprovalMethod"):
        ledger.reject(A, "carol", "no", method="carrier-pigeon")
    with pytest.raises(ValueError, match="'carrier-pigeon' is not a valid ApprovalMethod"):
        ledger.approve(A, "bob", method="carrier-pigeon")
    assert ledger.counts()["approvals"] == 0


def test_an_approval_that_would_never_count_is_refused(ledger: Ledger, clock: Clock) -> None:
    ledger.save_plan(A, "prod", body(True), None)
    with pytest.raises(ValueError, match="would never count"):
        ledger.approve(A, "bob", expires_at=clock.now)
    assert ledger.approvals(A) == []


def test_pending_plans_are_the_undecided_ones_with_changes_newest_first(ledger: Ledger, clock: Clock) -> None:
    ledger.save_plan(A, "prod", body(True), None)
    clock.advance(10)
    ledger.save_plan(B, "prod", body(True), None)
    clock.advance(10)
    ledger.save_plan(C, "prod", body(True), None)
    clock.advance(10)
    ledger.save_plan("dd44" + "0" * 60, "prod", body(False), None)  # nothing to approve
    ledger.save_plan("ee55" + "0" * 60, "staging", body(True), None)  # another environment
    assert [p.digest for p in ledger.pending_plans("prod")] == [C, B, A]
    assert [p.digest for p in ledger.pending_plans("prod", limit=1)] == [C]

    ledger.approve(B, "bob", expires_at=clock.now + timedelta(minutes=5))
    ledger.reject(C, "carol", "not today")
    assert [p.digest for p in ledger.pending_plans("prod")] == [A]
    clock.advance(300)  # B's approval expired: B awaits a decision again
    assert [p.digest for p in ledger.pending_plans("prod")] == [B, A]
    assert ledger.pending_plans("nowhere") == []


def test_latest_other_approval_names_the_newest_approved_other_plan(ledger: Ledger, clock: Clock) -> None:
    ledger.save_plan(A, "prod", body(True), None)
    ledger.save_plan(B, "prod", body(True), None)
    ledger.save_plan(C, "staging", body(True), None)
    assert ledger.latest_other_approval("prod", A) is None
    ledger.approve(A, "bob")
    clock.advance(10)
    ledger.approve(B, "carol")
    ledger.approve(C, "erin")  # other environment
    ledger.reject(B, "frank", "no")  # a rejection is not an approval on record
    other = ledger.latest_other_approval("prod", A)
    assert other is not None and (other.plan_id, other.approver) == (B[:12], "carol")
    other = ledger.latest_other_approval("prod", B)
    assert other is not None and (other.plan_id, other.approver) == (A[:12], "bob")
    assert ledger.latest_other_approval("staging", C) is None
