"""Migration 0003 on a ledger with history: down to 0002 and up again, on SQLite and PostgreSQL.
Existing approvals stay approvals, `has_changes` is back-filled from each plan's body, and a rejection
is not left behind as an approval when going down."""

from __future__ import annotations

import hashlib

from alembic import command
from sqlalchemy import inspect

from gripctl.ledger import ApprovalDecision, Ledger
from gripctl.ledger.db import alembic_config

A = "aa11" + "0" * 60
B = "bb22" + "0" * 60
C = "cc33" + "0" * 60


def migrate(ledger: Ledger, revision: str) -> None:
    cfg = alembic_config()
    with ledger.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        if revision == "0002":
            command.downgrade(cfg, revision)
        else:
            command.upgrade(cfg, revision)


def test_down_to_0002_and_up_again_keeps_the_history(ledger: Ledger) -> None:
    ledger.save_plan(A, "prod", {"has_changes": True}, None, requested_by="dana")
    ledger.save_plan(B, "prod", {"has_changes": False}, None)
    ledger.save_plan(C, "prod", {"has_changes": True}, None)
    approval = ledger.approve(A, "bob", "ok", method="tty")
    ledger.reject(C, "carol", "no")
    run_id = ledger.start_run("prod", "deploy", "ci", None, A)
    ledger.begin_action(
        run_id, "010-web", "install", None, "1.0.0", values_digest=hashlib.sha256().hexdigest()
    )
    ledger.record_audit("bob", "cli", "approve", A[:12])

    migrate(ledger, "0002")
    db = inspect(ledger.engine)
    assert "audit_log" not in db.get_table_names()
    assert "decision" not in {c["name"] for c in db.get_columns("approvals")}
    assert "has_changes" not in {c["name"] for c in db.get_columns("plans")}
    assert "values_digest" not in {c["name"] for c in db.get_columns("release_actions")}

    migrate(ledger, "head")
    (kept,) = ledger.approvals(A)
    assert (kept.id, kept.approver, kept.comment, kept.decision, kept.method) == (
        approval.id,
        "bob",
        "ok",
        ApprovalDecision.approved,
        None,  # 0002 did not record how
    )
    assert ledger.approvals(C) == []  # the rejection went with 0002; C awaits a decision again
    plans = {p: ledger.get_plan(p) for p in (A, B, C)}
    assert {p: (r.has_changes, r.requested_by) for p, r in plans.items() if r} == {
        A: (True, None),
        B: (False, None),
        C: (True, None),
    }
    assert [p.digest for p in ledger.pending_plans("prod")] == [C]
    run = ledger.run(run_id)
    assert run is not None and [a.values_digest for a in run.actions] == [None]
    assert ledger.audit_log() == []
