"""Approvals against a real SQLite ledger and the real ssh-keygen: required, authenticated, by an allowed
approver other than the requester (four eyes), for exactly this plan, until it expires."""

from __future__ import annotations

import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gripctl.engine.approvals import (
    SignedDecision,
    approve,
    reject,
    require_approval,
    sign_decision,
    signer_of,
)
from gripctl.errors import ApprovalError, UsageError
from gripctl.ledger import open_ledger
from gripctl.ledger.store import Ledger
from gripctl.ledger.types import ApprovalMethod, PlanRecord
from gripctl.model.types import Approval, Environment
from gripctl.plan.serialize import plan_to_dict
from gripctl.plan.types import Action, Plan, ReleasePlan, ReleaseStatus

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ssh_keys import signers

PROD = Environment(name="production", context=None, approval=Approval.required, approvers=("alice", "bob"))
TOKEN = ApprovalMethod.token


def plan(digest: str, action: Action = Action.upgrade) -> Plan:
    rp = ReleasePlan(
        "010-web", "web", "web", action, ReleaseStatus.deployed, 3, "1.0.0", "1.1.0", reason="chart"
    )
    return Plan("production", (rp,), (("010-web",),), digest, "2026-01-01T00:00:00+00:00")


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")


def saved(ledger: Ledger, p: Plan, requester: str | None = "carol") -> PlanRecord:
    return ledger.save_plan(p.digest, p.environment, plan_to_dict(p), None, requested_by=requester)


def _require(ledger: Ledger, p: Plan, env: Environment = PROD, actor: str = "carol") -> str | None:
    return require_approval(
        ledger, env, p, actor=actor, confirm=None, save_plan=lambda: saved(ledger, p, actor)
    )


def test_missing_approval_names_approvers_and_how_to_approve(ledger: Ledger) -> None:
    p = plan("a" * 64)
    with pytest.raises(ApprovalError) as err:
        _require(ledger, p)
    text = str(err.value)
    assert "requires an approval of plan aaaaaaaaaaaa" in text
    assert "alice, bob" in text
    assert (
        "gripctl approve aaaaaaaaaaaa -e production --sign" in text
        and "--server" not in text.split("--sign")[0]
    )
    assert ledger.approvals(p.digest) == []  # refusing recorded no approval
    record = ledger.get_plan(p.id)
    assert record is not None and record.requested_by == "carol"  # saved, so that it can be approved


def test_authenticated_approval_by_another_approver_passes(ledger: Ledger) -> None:
    p = plan("b" * 64)
    saved(ledger, p)
    decision = approve(ledger, PROD, p.id, "alice", "looks good", method=TOKEN)
    assert decision.method is TOKEN and decision.expires_at is not None
    assert timedelta(hours=23) < decision.expires_at - datetime.now(UTC) <= timedelta(hours=24)
    assert _require(ledger, p) == "alice"


def test_a_name_alone_does_not_count(ledger: Ledger) -> None:
    p = plan("c" * 64)
    saved(ledger, p)
    with pytest.raises(ApprovalError, match="must be authenticated"):
        approve(ledger, PROD, p.id, "alice", None, method=ApprovalMethod.tty)
    assert ledger.approvals(p.digest) == []
    ledger.approve(p.digest, "alice", "typed --as alice")  # what an old gripctl recorded: no method
    with pytest.raises(ApprovalError, match="given by name only"):
        _require(ledger, p)


def test_four_eyes_the_requester_cannot_approve(ledger: Ledger) -> None:
    p = plan("d" * 64)
    saved(ledger, p, requester="alice")
    with pytest.raises(ApprovalError, match="alice requested plan dddddddddddd and cannot approve it"):
        approve(ledger, PROD, p.id, "alice", None, method=TOKEN)
    assert ledger.approvals(p.digest) == []
    # Nor does a deployer's own approval count when they deploy (even one recorded behind our back).
    ledger.approve(p.digest, "bob", None, method=TOKEN)
    with pytest.raises(ApprovalError, match="four eyes"):
        _require(ledger, p, actor="bob")
    assert _require(ledger, p, actor="carol") == "bob"
    # Without four eyes (a one-person team's choice) the requester's approval counts.
    solo = replace(PROD, four_eyes=False)
    assert approve(ledger, solo, p.id, "alice", None, method=TOKEN).approver == "alice"


def test_approval_for_a_different_plan_is_refused_and_says_so(ledger: Ledger) -> None:
    old, new = plan("e" * 64), plan("f" * 64)
    saved(ledger, old)
    approve(ledger, PROD, old.id, "bob", None, method=TOKEN)
    with pytest.raises(ApprovalError) as err:
        _require(ledger, new)
    assert "is for a different plan, eeeeeeeeeeee" in str(err.value)
    assert "by bob" in str(err.value)
    assert ledger.approvals(new.digest) == []


def test_not_an_approver_cannot_approve_or_reject(ledger: Ledger) -> None:
    p = plan("1" * 64)
    saved(ledger, p)
    with pytest.raises(ApprovalError) as err:
        approve(ledger, PROD, p.id, "mallory", None, method=TOKEN)
    assert "'mallory' may not approve" in str(err.value)
    with pytest.raises(ApprovalError, match="'mallory' may not decide"):
        reject(ledger, PROD, p.id, "mallory", "no", method=TOKEN)
    assert ledger.approvals(p.digest) == []
    with pytest.raises(UsageError):
        approve(ledger, PROD, "ffffffffffff", "alice", None, method=TOKEN)


def test_rejection_vetoes_the_plan(ledger: Ledger) -> None:
    p = plan("2" * 64)
    saved(ledger, p)
    approve(ledger, PROD, p.id, "alice", None, method=TOKEN)
    rejection = reject(ledger, PROD, p.id, "bob", "the chart bump breaks the ingress", method=TOKEN)
    assert rejection.reason == "the chart bump breaks the ingress"
    with pytest.raises(ApprovalError):
        _require(ledger, p)
    with pytest.raises(ApprovalError, match="was rejected by bob"):
        approve(ledger, PROD, p.id, "alice", None, method=TOKEN)


def test_an_expired_approval_no_longer_counts(ledger: Ledger) -> None:
    p = plan("3" * 64)
    saved(ledger, p)
    short = replace(PROD, approval_expiry_seconds=3600)
    approve(ledger, short, p.id, "alice", None, method=TOKEN)
    assert _require(ledger, p, short) == "alice"
    ledger.clock = lambda: datetime.now(UTC) + timedelta(hours=2)
    with pytest.raises(ApprovalError, match="none is recorded"):
        _require(ledger, p, short)


def test_ssh_signed_decisions(tmp_path: Path) -> None:
    keys = signers(tmp_path / "keys", ["alice", "bob"], tmp_path / "allowed_signers")
    stranger = signers(tmp_path / "other", ["alice"], tmp_path / "other_signers")["alice"]
    file = tmp_path / "allowed_signers"
    digest = "4" * 64
    signed = sign_decision(keys["bob"], "approve", digest, "production")
    assert signer_of(file, "approve", digest, "production", signed) == "bob"
    # The signature covers the decision, the plan and the environment: none can be swapped.
    for decision, d, env in (("reject", digest, "production"), ("approve", "5" * 64, "production"),
                             ("approve", digest, "staging")):  # fmt: skip
        with pytest.raises(ApprovalError, match="does not verify"):
            signer_of(file, decision, d, env, signed)
    # A key the file does not list proves nothing, even under a listed name.
    with pytest.raises(ApprovalError, match="not in the allowed signers file"):
        signer_of(
            file, "approve", digest, "production", sign_decision(stranger, "approve", digest, "production")
        )
    # An old signature cannot be replayed.
    later = datetime.now(UTC) + timedelta(hours=1)
    with pytest.raises(ApprovalError, match="cannot be replayed"):
        signer_of(file, "approve", digest, "production", signed, now=later)
    with pytest.raises(ApprovalError, match="names none"):
        signer_of(None, "approve", digest, "production", signed)
    with pytest.raises(ApprovalError, match="not an ISO 8601"):
        signer_of(file, "approve", digest, "production", SignedDecision(signed.signature, "yesterday"))


def test_terminal_confirmation_signs_when_four_eyes_are_off(tmp_path: Path, ledger: Ledger) -> None:
    file = tmp_path / "allowed_signers"
    keys = signers(tmp_path / "keys", ["alice"], file)
    solo = replace(PROD, four_eyes=False)
    p = plan("6" * 64)
    shown: list[str] = []

    def confirm(summary: str) -> bool:
        shown.append(summary)
        return True

    def sign(digest: str, env: str) -> SignedDecision:
        return sign_decision(keys["alice"], "approve", digest, env)

    def ask(env: Environment, actor: str, answer: bool = True) -> str | None:
        return require_approval(
            ledger, env, p, actor=actor, confirm=confirm if answer else (lambda _s: False),
            save_plan=lambda: saved(ledger, p, actor), sign=sign, allowed_signers=file,
        )  # fmt: skip

    with pytest.raises(ApprovalError, match="requires four eyes: alice cannot approve"):
        ask(PROD, "alice")
    assert shown == [] and ledger.approvals(p.digest) == []
    with pytest.raises(ApprovalError, match="not confirmed"):
        ask(solo, "alice", answer=False)
    assert ledger.approvals(p.digest) == []
    with pytest.raises(ApprovalError, match="belongs to 'alice', not to 'bob'"):
        ask(solo, "bob")
    assert ask(solo, "alice") == "alice"
    assert "upgrade  010-web 1.1.0" in shown[-1]
    [decision] = ledger.approvals(p.digest)
    assert decision.approver == "alice" and decision.method is ApprovalMethod.ssh


def test_no_changes_or_no_approval_policy_needs_nothing(ledger: Ledger) -> None:
    assert _require(ledger, plan("7" * 64, Action.noop)) is None
    assert _require(ledger, plan("8" * 64), replace(PROD, approval=Approval.none)) is None
