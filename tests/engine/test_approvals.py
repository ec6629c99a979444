"""Approvals against a real SQLite ledger: required, by an allowed approver, for exactly this plan."""

from __future__ import annotations

from pathlib import Path

import pytest

from gripctl.engine.approvals import approve, require_approval
from gripctl.errors import ApprovalError, UsageError
from gripctl.ledger import open_ledger
from gripctl.ledger.store import Ledger
from gripctl.model.types import Approval, Environment
from gripctl.plan.serialize import plan_to_dict
from gripctl.plan.types import Action, Plan, ReleasePlan, ReleaseStatus

PROD = Environment(name="production", context=None, approval=Approval.required, approvers=("alice", "bob"))


def plan(digest: str, action: Action = Action.upgrade) -> Plan:
    rp = ReleasePlan(
        "010-web", "web", "web", action, ReleaseStatus.deployed, 3, "1.0.0", "1.1.0", reason="chart"
    )
    return Plan("production", (rp,), (("010-web",),), digest, "2026-01-01T00:00:00+00:00")


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")


def _require(ledger: Ledger, p: Plan, **kw: object) -> str | None:
    def save() -> object:
        return ledger.save_plan(p.digest, p.environment, plan_to_dict(p), None)

    return require_approval(
        ledger, PROD, p, actor=str(kw.get("actor", "carol")), confirm=None, save_plan=save
    )


def test_missing_approval_names_approvers_and_the_exact_command(ledger: Ledger) -> None:
    p = plan("a" * 64)
    with pytest.raises(ApprovalError) as err:
        _require(ledger, p)
    text = str(err.value)
    assert "requires an approval of plan aaaaaaaaaaaa" in text
    assert "alice, bob" in text
    assert "gripctl approve aaaaaaaaaaaa -e production --as alice" in text
    assert ledger.approvals(p.digest) == []  # refusing recorded no approval
    assert ledger.get_plan(p.id) is not None  # ... but saved the plan so that it can be approved


def test_approval_by_allowed_approver_for_this_digest_passes(ledger: Ledger) -> None:
    p = plan("b" * 64)
    ledger.save_plan(p.digest, "production", plan_to_dict(p), None)
    approve(ledger, PROD, p.id, "alice", "looks good")
    assert _require(ledger, p) == "alice"


def test_approval_for_a_different_plan_is_refused_and_says_so(ledger: Ledger) -> None:
    old, new = plan("c" * 64), plan("d" * 64)
    ledger.save_plan(old.digest, "production", plan_to_dict(old), None)
    approve(ledger, PROD, old.id, "bob", None)
    with pytest.raises(ApprovalError) as err:
        _require(ledger, new)
    assert "is for a different plan, cccccccccccc" in str(err.value)
    assert "by bob" in str(err.value)
    assert ledger.approvals(new.digest) == []


def test_not_an_approver_cannot_approve(ledger: Ledger) -> None:
    p = plan("e" * 64)
    ledger.save_plan(p.digest, "production", plan_to_dict(p), None)
    with pytest.raises(ApprovalError) as err:
        approve(ledger, PROD, p.id, "mallory", None)
    assert "'mallory' may not approve" in str(err.value)
    assert ledger.approvals(p.digest) == []
    with pytest.raises(UsageError):
        approve(ledger, PROD, "ffffffffffff", "alice", None)


def test_interactive_confirmation_records_the_actor(ledger: Ledger) -> None:
    p = plan("1" * 64)
    shown: list[str] = []

    def confirm(summary: str) -> bool:
        shown.append(summary)
        return True

    approver = require_approval(
        ledger,
        PROD,
        p,
        actor="alice",
        confirm=confirm,
        save_plan=lambda: ledger.save_plan(p.digest, "production", {}, None),
    )
    assert approver == "alice"
    assert "upgrade  010-web 1.1.0" in shown[0]
    assert [a.approver for a in ledger.approvals(p.digest)] == ["alice"]
    declined = plan("2" * 64)
    with pytest.raises(ApprovalError, match="not confirmed"):
        require_approval(
            ledger,
            PROD,
            declined,
            actor="alice",
            confirm=lambda _s: False,
            save_plan=lambda: ledger.save_plan(declined.digest, "production", {}, None),
        )
    assert ledger.approvals(declined.digest) == []


def test_no_changes_or_no_approval_policy_needs_nothing(ledger: Ledger) -> None:
    assert _require(ledger, plan("3" * 64, Action.noop)) is None
