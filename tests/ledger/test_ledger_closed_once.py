"""A run and its actions are closed once: the first verdict stays (on SQLite and PostgreSQL).

Found by tests/chaos/test_lock_races.py: a run stopped past its lease is marked interrupted by the run
that takes over (its open action closed with what recovery found); continued, the stopped process
finished its verify and its run and overwrote both verdicts with its own.
"""

from __future__ import annotations

from gripctl.ledger import ActionOutcome, Ledger, RunKind, RunOutcome


def test_an_action_and_a_run_closed_by_recovery_keep_that_verdict(ledger: Ledger) -> None:
    stopped = ledger.start_run("prod", RunKind.deploy, "alice", None, None)
    action = ledger.begin_action(stopped, "010-web", "upgrade", 1, "1.0.0")
    taker = ledger.start_run("prod", RunKind.deploy, "bob", None, None)
    # The taker's recovery: the revision was healthy and is kept; the stopped run is interrupted.
    assert ledger.finish_action(action, ActionOutcome.succeeded, 2) is True
    ledger.mark_interrupted(stopped, f"interrupted; recovered by run {taker}")

    # The stopped process continues and closes what it had open, with what it thinks.
    assert ledger.finish_action(action, ActionOutcome.failed, None, "lost the lock") is False
    assert ledger.finish_run(stopped, RunOutcome.failed, "lost the lock") is False

    record = ledger.run(stopped)
    assert record is not None
    assert record.outcome is RunOutcome.interrupted
    assert record.error == f"interrupted; recovered by run {taker}"
    closed = [(a.outcome, a.to_revision, a.error) for a in record.actions]
    assert closed == [(ActionOutcome.succeeded, 2, None)]


def test_an_open_run_is_closed_normally(ledger: Ledger) -> None:
    run_id = ledger.start_run("prod", RunKind.deploy, "alice", None, None)
    action = ledger.begin_action(run_id, "010-web", "install", None, "1.0.0")
    assert ledger.finish_action(action, ActionOutcome.succeeded, 1) is True
    assert ledger.finish_run(run_id, RunOutcome.succeeded) is True
    record = ledger.run(run_id)
    assert record is not None and record.outcome is RunOutcome.succeeded
