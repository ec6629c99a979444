"""The queries the server's pages make: runs filtered and paged, a run's events after an id, the last
run of each release, the failed deploys behind the change failure rate with their incidents, expired
approvals, and the change marker. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gripctl.ledger import Ledger
from gripctl.ledger.testing import Clock
from gripctl.ledger.types import ActionKind, ActionOutcome, RunKind, RunOutcome, Severity


def _run(ledger: Ledger, clock: Clock, env: str, outcome: RunOutcome, actor: str = "alice",
         kind: RunKind = RunKind.deploy, releases: tuple[str, ...] = ()) -> int:  # fmt: skip
    run_id = ledger.start_run(env, kind, actor, None, None)
    for rid in releases:
        action = ledger.begin_action(run_id, rid, ActionKind.upgrade, 1, "1.0.0")
        ledger.finish_action(action, ActionOutcome.succeeded, 2)
    clock.advance(60)
    ledger.finish_run(run_id, outcome)
    clock.advance(60)
    return run_id


def test_runs_filters_and_pages(ledger: Ledger, clock: Clock) -> None:
    a = _run(ledger, clock, "staging", RunOutcome.succeeded)
    b = _run(ledger, clock, "production", RunOutcome.failed, actor="bob")
    c = _run(ledger, clock, "production", RunOutcome.succeeded, kind=RunKind.rollback)
    d = _run(ledger, clock, "staging", RunOutcome.refused, actor="bob")
    assert [r.id for r in ledger.runs()] == [d, c, b, a]
    assert [r.id for r in ledger.runs(limit=2, before=c)] == [b, a]
    assert [r.id for r in ledger.runs(environments=["production"])] == [c, b]
    assert [r.id for r in ledger.runs(kind="rollback")] == [c]
    assert [r.id for r in ledger.runs(outcome=RunOutcome.failed)] == [b]
    assert [r.id for r in ledger.runs(actor="bob", environment="staging")] == [d]
    assert ledger.runs(environments=[]) == []
    with pytest.raises(ValueError):
        ledger.runs(outcome="exploded")


def test_run_events_after_an_id_and_the_summary(ledger: Ledger, clock: Clock) -> None:
    run_id = ledger.start_run("staging", RunKind.deploy, "alice", None, None)
    ids = [ledger.event(run_id, "phase", f"step {i}", "010-a", {"phase": "deploying"}) for i in range(5)]
    other = ledger.start_run("production", RunKind.deploy, "alice", None, None)
    ledger.event(other, "phase", "elsewhere")
    assert [e.id for e in ledger.run_events(run_id)] == ids
    assert [e.message for e in ledger.run_events(run_id, after=ids[2])] == ["step 3", "step 4"]
    assert ledger.run_events(run_id, after=ids[-1]) == []
    summary = ledger.run_summary(run_id)
    assert summary is not None and summary.outcome is RunOutcome.running and summary.events == ()
    assert ledger.run_summary(10**9) is None


def test_last_release_runs(ledger: Ledger, clock: Clock) -> None:
    first = _run(ledger, clock, "production", RunOutcome.succeeded, releases=("010-a", "020-b"))
    second = _run(ledger, clock, "production", RunOutcome.failed, actor="bob", releases=("020-b",))
    _run(ledger, clock, "staging", RunOutcome.succeeded, releases=("010-a",))
    last = ledger.last_release_runs("production", ["010-a", "020-b", "030-c"])
    assert {rid: r.id for rid, r in last.items()} == {"010-a": first, "020-b": second}
    assert last["020-b"].actor == "bob"


def test_failed_deploys_and_their_incidents(ledger: Ledger, clock: Clock) -> None:
    start = clock.now
    ok = _run(ledger, clock, "production", RunOutcome.succeeded)
    failed = _run(ledger, clock, "production", RunOutcome.rolled_back)
    linked = _run(ledger, clock, "production", RunOutcome.succeeded)
    _run(ledger, clock, "production", RunOutcome.failed, kind=RunKind.rollback)  # not a deploy
    _run(ledger, clock, "staging", RunOutcome.failed)  # another environment
    incident = ledger.open_incident("production", "latency", Severity.P2, run_id=linked)
    found = ledger.failed_deploys("production", start, clock.now + timedelta(seconds=1))
    assert [r.id for r in found] == [linked, failed]
    assert ok not in [r.id for r in found]
    by_run = ledger.run_incidents([r.id for r in found])
    assert {k: [i.id for i in v] for k, v in by_run.items()} == {linked: [incident]}
    assert ledger.run_incidents([]) == {}
    assert ledger.failed_deploys("production", clock.now, clock.now + timedelta(days=1)) == []


def test_expired_approvals_and_the_change_marker(ledger: Ledger, clock: Clock) -> None:
    before = ledger.change_marker()
    ledger.save_plan("a" * 64, "production", {"has_changes": True}, None, requested_by="alice")
    after_plan = ledger.change_marker()
    assert after_plan != before
    approval = ledger.approve(
        "a" * 64, "bob", None, method="token", expires_at=clock.now + timedelta(hours=1)
    )
    assert ledger.change_marker() != after_plan
    assert ledger.expired_approvals(clock.now - timedelta(days=1), clock.now) == []
    clock.advance(7200)
    [expired] = ledger.expired_approvals(clock.now - timedelta(days=1), clock.now)
    assert expired.id == approval.id
    marker = ledger.change_marker()
    run_id = ledger.start_run("production", RunKind.deploy, "alice", None, None)
    ledger.event(run_id, "run-started", "x")
    assert ledger.change_marker() != marker


def test_the_dora_marker_moves_with_finished_deploys_and_incidents(ledger: Ledger, clock: Clock) -> None:
    empty = ledger.dora_marker()
    run_id = ledger.start_run("production", RunKind.deploy, "alice", None, None)
    ledger.event(run_id, "phase", "deploying")
    assert ledger.dora_marker() == empty  # a run in progress changes no figure
    clock.advance(60)
    ledger.finish_run(run_id, RunOutcome.succeeded)
    finished = ledger.dora_marker()
    assert finished != empty
    _run(ledger, clock, "production", RunOutcome.succeeded, kind=RunKind.rollback)
    assert ledger.dora_marker() == finished  # not a deploy
    incident = ledger.open_incident("production", "x", Severity.P2, actor="gripctl", message="opened")
    assert ledger.dora_marker() != finished
    assert incident
