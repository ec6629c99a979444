"""The audit log: entries recorded and listed newest first, filtered by actor, action and time, paged
with a before-id cursor; bad entries are refused unwritten. On SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from gripctl.ledger import Ledger
from gripctl.ledger.testing import Clock


def test_audit_entries_filter_and_page(ledger: Ledger, clock: Clock) -> None:
    ids = []
    for actor, source, action, target in (
        ("alice", "cli", "approve", "plan aa11"),
        ("bob", "10.0.0.7", "reject", "plan bb22"),
        ("alice", "10.0.0.8", "deploy", "prod"),
        ("carol", "10.0.0.9", "incident.ack", "incident 4"),
        ("alice", "cli", "token.create", "tk_bob01"),
    ):
        clock.advance(60)
        ids.append(ledger.record_audit(actor, source, action, target, detail={"n": len(ids)}))
    everything = ledger.audit_log()
    assert [e.id for e in everything] == ids[::-1]
    newest = everything[0]
    assert (newest.actor, newest.source, newest.action, newest.target, newest.detail, newest.ts) == (
        "alice",
        "cli",
        "token.create",
        "tk_bob01",
        {"n": 4},
        clock.now,
    )
    assert [e.id for e in ledger.audit_log(actor="alice")] == [ids[4], ids[2], ids[0]]
    assert [e.id for e in ledger.audit_log(action="incident.ack")] == [ids[3]]
    assert [e.id for e in ledger.audit_log(since=everything[1].ts)] == [ids[4], ids[3]]

    page1 = ledger.audit_log(limit=2)
    page2 = ledger.audit_log(limit=2, before=page1[-1].id)
    page3 = ledger.audit_log(limit=2, before=page2[-1].id)
    assert [e.id for e in page1 + page2 + page3] == ids[::-1]
    assert ledger.audit_log(limit=2, before=page3[-1].id) == []
    assert [e.id for e in ledger.audit_log(actor="alice", limit=1, before=ids[4])] == [ids[2]]
    assert ledger.record_audit("erin", "cli", "rollback") > ids[-1]  # target and detail are optional


def test_bad_audit_entries_and_pages_are_refused_and_nothing_is_written(ledger: Ledger) -> None:
    with pytest.raises(ValueError, match=r"audit action 'Approve it' is not dotted lowercase words"):
        ledger.record_audit("alice", "cli", "Approve it")
    with pytest.raises(ValueError, match=r"needs an actor and a source"):
        ledger.record_audit("", "cli", "approve")
    with pytest.raises(TypeError, match="JSON object"):
        ledger.record_audit("alice", "cli", "approve", detail=["not", "a", "dict"])  # type: ignore[arg-type]
    assert ledger.counts()["audit_log"] == 0
    with pytest.raises(ValueError, match="an audit page holds 1 to 1000 entries, not 0"):
        ledger.audit_log(limit=0)
