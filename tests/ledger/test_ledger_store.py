"""The Ledger's methods on SQLite and PostgreSQL: runs, actions, plans, approvals, locks, incidents."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from gripctl.errors import LedgerError, UsageError
from gripctl.ledger import (
    ActionOutcome,
    CommitInfo,
    IncidentStatus,
    Ledger,
    RunKind,
    RunOutcome,
    Severity,
)
from gripctl.ledger.testing import Clock

DIGEST = "ab12cd34ef56" + "0" * 52


def test_run_lifecycle_with_write_ahead_actions_and_timeline(ledger: Ledger, clock: Clock) -> None:
    run_id = ledger.start_run("prod", RunKind.deploy, "alice", "c0ffee", DIGEST, host="ci-1", pid=42)
    action = ledger.begin_action(run_id, "010-cert-manager", "upgrade", 3, "1.15.0")
    # Write-ahead: before helm returns, the action is already durable and visibly running.
    in_flight = ledger.run(run_id)
    assert in_flight is not None
    assert [(a.release_id, a.outcome) for a in in_flight.actions] == [
        ("010-cert-manager", ActionOutcome.running)
    ]

    clock.advance(30)
    ledger.finish_action(action, "succeeded", to_revision=4)
    ledger.event(
        run_id, "release.healthy", "cert-manager is healthy", release_id="010-cert-manager", data={"pods": 3}
    )
    clock.advance(15)
    ledger.finish_run(run_id, RunOutcome.succeeded, durations={"deploy": 30.0, "verify": 15.0})

    run = ledger.run(run_id)
    assert run is not None
    assert (run.environment, run.kind, run.actor, run.host, run.pid) == (
        "prod",
        RunKind.deploy,
        "alice",
        "ci-1",
        42,
    )
    assert run.outcome is RunOutcome.succeeded
    assert run.started_at == datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert run.finished_at == datetime(2026, 3, 1, 12, 0, 45, tzinfo=UTC)
    assert run.duration_seconds == 45.0
    assert run.durations == {"deploy": 30.0, "verify": 15.0}
    (a,) = run.actions
    assert (a.from_revision, a.to_revision, a.chart_version, a.outcome) == (
        3,
        4,
        "1.15.0",
        ActionOutcome.succeeded,
    )
    (e,) = run.events
    assert (e.kind, e.release_id, e.data) == ("release.healthy", "010-cert-manager", {"pods": 3})
    assert e.ts.tzinfo is UTC


def test_runs_lists_newest_first_and_filters(ledger: Ledger) -> None:
    a = ledger.start_run("prod", "deploy", "a", None, None)
    b = ledger.start_run("staging", "deploy", "a", None, None)
    c = ledger.start_run("prod", "rollback", "a", None, None)
    assert [r.id for r in ledger.runs()] == [c, b, a]
    assert [r.id for r in ledger.runs("prod")] == [c, a]
    assert [r.id for r in ledger.runs(limit=1)] == [c]
    assert ledger.run(9999) is None


def test_bad_values_are_refused_without_writing(ledger: Ledger) -> None:
    with pytest.raises(ValueError):
        ledger.start_run("prod", "redeploy", "a", None, None)
    with pytest.raises(LedgerError, match="no run 777"):
        ledger.finish_run(777, "failed")
    with pytest.raises(ValueError, match="naive datetime"):
        ledger.record_commits(1, [CommitInfo("abc", datetime(2026, 1, 1), "a", "s")])
    assert ledger.counts()["runs"] == 0
    assert ledger.counts()["commits"] == 0


def test_last_deployed_commit_is_the_latest_successful_deploy(ledger: Ledger, clock: Clock) -> None:
    assert ledger.last_deployed_commit("prod") is None
    for sha, outcome in (("a1", "succeeded"), ("b2", "succeeded"), ("c3", "failed")):
        run_id = ledger.start_run("prod", "deploy", "x", sha, None)
        clock.advance(60)
        ledger.finish_run(run_id, outcome)
    assert ledger.last_deployed_commit("prod") == "b2"
    assert ledger.last_deployed_commit("staging") is None


def test_plans_by_digest_id_and_prefix_and_approvals(ledger: Ledger) -> None:
    body = {"environment": "prod", "releases": [{"release_id": "010-x", "action": "upgrade"}]}
    saved = ledger.save_plan(DIGEST, "prod", body, "c0ffee")
    assert saved.id == "ab12cd34ef56"
    again = ledger.save_plan(DIGEST, "prod", {"changed": True}, "other")
    assert again.body == body  # first copy kept: a digest names one plan forever
    for key in (DIGEST, "ab12cd34ef56", "AB12CD34", " ab12cd "):
        plan = ledger.get_plan(key)
        assert plan is not None and plan.digest == DIGEST, key
    assert ledger.get_plan("ab12") is None  # too short to be an id
    assert ledger.get_plan("ffffffffffff") is None

    first = ledger.approve("ab12cd34ef56", "bob", "looks good")
    assert ledger.approve(DIGEST, "bob").id == first.id  # approving twice is one approval
    ledger.approve(DIGEST, "carol")
    assert [(a.approver, a.comment) for a in ledger.approvals(DIGEST)] == [
        ("bob", "looks good"),
        ("carol", None),
    ]


def test_approving_an_unknown_plan_says_what_to_do_and_writes_nothing(ledger: Ledger) -> None:
    with pytest.raises(UsageError, match="no saved plan 'deadbeef0000'") as err:
        ledger.approve("deadbeef0000", "bob")
    assert "gripctl plan" in (err.value.hint or "")
    assert ledger.counts()["approvals"] == 0


def test_ambiguous_plan_prefix_is_a_usage_error(ledger: Ledger) -> None:
    ledger.save_plan("abcdef01" + "1" * 56, "prod", {}, None)
    ledger.save_plan("abcdef02" + "2" * 56, "prod", {}, None)
    with pytest.raises(UsageError, match="matches several"):
        ledger.get_plan("abcdef")
    assert ledger.get_plan("abcdef01") is not None


def test_env_lock_is_exclusive_until_it_expires(ledger: Ledger, clock: Clock) -> None:
    r1 = ledger.start_run("prod", "deploy", "alice", None, None)
    r2 = ledger.start_run("prod", "deploy", "bob", None, None)
    assert ledger.acquire_env_lock("prod", r1, "alice@ci-1", ttl_seconds=60, host="ci-1", pid=10)
    assert not ledger.acquire_env_lock("prod", r2, "bob@laptop", ttl_seconds=60)
    held = ledger.env_lock("prod")
    assert held is not None and (held.run_id, held.holder, held.host, held.pid) == (
        r1,
        "alice@ci-1",
        "ci-1",
        10,
    )
    assert ledger.acquire_env_lock("prod", r1, "alice@ci-1", ttl_seconds=60)  # re-entrant for the holder
    assert ledger.acquire_env_lock("staging", r2, "bob@laptop", ttl_seconds=60)  # other environments are free

    clock.advance(50)
    assert ledger.heartbeat_env_lock("prod", r1, ttl_seconds=60)  # now expires at +110s
    clock.advance(50)
    assert not ledger.acquire_env_lock("prod", r2, "bob@laptop", ttl_seconds=60)
    assert not ledger.release_env_lock("prod", r2)  # not bob's to release
    clock.advance(11)  # alice stopped heartbeating: the lock expired
    assert ledger.acquire_env_lock("prod", r2, "bob@laptop", ttl_seconds=60)
    assert not ledger.heartbeat_env_lock("prod", r1, ttl_seconds=60)  # alice learns she lost it
    held = ledger.env_lock("prod")
    assert held is not None and held.run_id == r2
    assert ledger.release_env_lock("prod", r2)
    assert ledger.env_lock("prod") is None


def test_env_lock_race_has_exactly_one_winner(ledger: Ledger) -> None:
    runs = [ledger.start_run("prod", "deploy", f"u{i}", None, None) for i in range(8)]
    barrier = threading.Barrier(len(runs))
    results: dict[int, bool] = {}

    def contend(run_id: int) -> None:
        barrier.wait()
        results[run_id] = ledger.acquire_env_lock("prod", run_id, f"run-{run_id}", ttl_seconds=60)

    threads = [threading.Thread(target=contend, args=(r,)) for r in runs]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    winners = [r for r, ok in results.items() if ok]
    assert len(results) == 8 and len(winners) == 1
    held = ledger.env_lock("prod")
    assert held is not None and held.run_id == winners[0]


def test_interrupted_runs_are_running_runs_without_a_live_lock(ledger: Ledger, clock: Clock) -> None:
    crashed = ledger.start_run("prod", "deploy", "a", None, None)
    ledger.acquire_env_lock("prod", crashed, "a", ttl_seconds=30)
    pending = ledger.begin_action(crashed, "010-x", "install", None, "1.0.0")
    done = ledger.begin_action(crashed, "005-y", "upgrade", 1, "1.0.0")
    ledger.finish_action(done, "succeeded", 2)
    finished = ledger.start_run("prod", "deploy", "a", None, None)
    ledger.finish_run(finished, "succeeded")
    assert ledger.interrupted_runs("prod") == []  # the lock is alive: the run may still be working

    clock.advance(31)
    assert [r.id for r in ledger.interrupted_runs("prod")] == [crashed]
    assert ledger.interrupted_runs("staging") == []
    ledger.mark_interrupted(crashed)
    ledger.mark_interrupted(crashed)  # idempotent
    run = ledger.run(crashed)
    assert run is not None and run.outcome is RunOutcome.interrupted and run.finished_at == clock.now
    assert {a.id: a.outcome for a in run.actions} == {
        pending: ActionOutcome.interrupted,
        done: ActionOutcome.succeeded,
    }
    assert ledger.interrupted_runs("prod") == []
    ledger.mark_interrupted(finished)  # a finished run is never rewritten
    fin = ledger.run(finished)
    assert fin is not None and fin.outcome is RunOutcome.succeeded


def test_commits_are_recorded_with_their_run(ledger: Ledger) -> None:
    run_id = ledger.start_run("prod", "deploy", "a", "c2", None)
    when = datetime(2026, 2, 27, 9, 30, tzinfo=UTC)
    ledger.record_commits(
        run_id, [CommitInfo("c2", when, "Dana", "fix ingress"), CommitInfo("c1", when, "E", "x")]
    )
    ledger.record_commits(run_id, [])
    assert ledger.counts()["commits"] == 2


def test_incident_lifecycle_dedup_and_escalation(ledger: Ledger, clock: Clock) -> None:
    run_id = ledger.start_run("prod", "deploy", "a", None, None)
    first_escalation = clock.now + timedelta(minutes=15)
    inc = ledger.open_incident(
        "prod",
        "cert-manager unhealthy after upgrade",
        Severity.P1,
        release_id="010-cert-manager",
        run_id=run_id,
        dedup_key="prod/010-cert-manager/unhealthy",
        next_escalation_at=first_escalation,
        actor="gripctl",
    )
    assert ledger.open_incident("prod", "again", "P1", dedup_key="prod/010-cert-manager/unhealthy") == inc
    assert ledger.due_escalations() == []
    clock.advance(16 * 60)
    assert [i.id for i in ledger.due_escalations()] == [inc]
    ledger.update_incident(inc, escalation_level=1, next_escalation_at=clock.now + timedelta(minutes=30))
    ledger.add_incident_event(inc, "escalated", "paged secondary", actor="gripctl")
    assert ledger.due_escalations() == []

    acked = ledger.update_incident(inc, status="acknowledged")
    assert acked.acknowledged_at == clock.now and acked.next_escalation_at is not None
    clock.advance(600)
    resolved = ledger.update_incident(inc, status=IncidentStatus.resolved, rca="webhook CA bundle rotated")
    assert resolved.resolved_at == clock.now and resolved.next_escalation_at is None
    assert resolved.acknowledged_at == clock.now - timedelta(seconds=600)

    full = ledger.incident(inc)
    assert full is not None
    assert (full.severity, full.status, full.escalation_level, full.rca) == (
        Severity.P1,
        IncidentStatus.resolved,
        1,
        "webhook CA bundle rotated",
    )
    assert [e.kind.value for e in full.events] == ["opened", "escalated"]
    # Resolved: the same dedup key now opens a new incident.
    assert ledger.open_incident("prod", "again", "P2", dedup_key="prod/010-cert-manager/unhealthy") != inc
    assert [i.status for i in ledger.incidents(environment="prod")] == [
        IncidentStatus.open,
        IncidentStatus.resolved,
    ]
    assert len(ledger.incidents(status="open")) == 1
    assert ledger.incident(424242) is None
    with pytest.raises(LedgerError, match="no incident 424242"):
        ledger.add_incident_event(424242, "comment", "x")


def test_notifications_and_secret_rotations(ledger: Ledger) -> None:
    inc = ledger.open_incident("prod", "t", "P3")
    nid = ledger.record_notification(
        "slack", "incident.opened", "failed", 3, incident_id=inc, status_code=503
    )
    ledger.record_notification("smtp", "incident.opened", "delivered", 1, incident_id=inc)
    notes = ledger.notifications(incident_id=inc)
    assert [(n.channel, n.outcome.value, n.attempts) for n in notes] == [
        ("smtp", "delivered", 1),
        ("slack", "failed", 3),
    ]
    assert notes[1].id == nid and notes[1].status_code == 503

    ledger.record_secret_rotation("010-cert-manager", ["tls.key", "api-token"], "alice", environment="prod")
    with pytest.raises(TypeError):
        ledger.record_secret_rotation("x", "not-a-list", "alice")
    (rot,) = ledger.secret_rotations("010-cert-manager")
    assert rot.keys == ("api-token", "tls.key") and rot.environment == "prod"


def test_concurrent_writers_from_threads(ledger: Ledger) -> None:
    """The engine records from several threads at once; every write lands, none fails with 'locked'."""
    run_id = ledger.start_run("prod", "deploy", "a", None, None)
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for j in range(10):
                action = ledger.begin_action(run_id, f"r{i}", "upgrade", j, "1")
                ledger.event(run_id, "tick", f"{i}-{j}", release_id=f"r{i}")
                ledger.finish_action(action, "succeeded", j + 1)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    run = ledger.run(run_id)
    assert run is not None and len(run.actions) == 60 and len(run.events) == 60
    assert all(a.outcome is ActionOutcome.succeeded for a in run.actions)
