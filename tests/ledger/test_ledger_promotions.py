"""Promotions: `succeeded_in` says whether exactly a chart version with exactly a values digest was
installed or upgraded successfully in an environment, and stayed (not rolled back in its run). On
SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib

import pytest

from gripctl.ledger import Ledger

V1 = hashlib.sha256(b"replicas: 3").hexdigest()
V2 = hashlib.sha256(b"replicas: 5").hexdigest()


def deploy(
    ledger: Ledger,
    env: str,
    chart: str,
    digest: str | None,
    *,
    action: str = "upgrade",
    outcome: str = "succeeded",
    run_outcome: str = "succeeded",
    undo: str | None = None,
    kind: str = "deploy",
) -> int:
    run_id = ledger.start_run(env, kind, "ci", None, None)
    aid = ledger.begin_action(run_id, "010-web", action, 1, chart, values_digest=digest)
    ledger.finish_action(aid, outcome, 2)
    if undo is not None:  # rolled back (or uninstalled) later in the same run
        ledger.finish_action(ledger.begin_action(run_id, "010-web", undo, 2, None), "succeeded", 3)
    ledger.finish_run(run_id, run_outcome)
    return aid


def test_values_digest_is_recorded_with_the_action(ledger: Ledger) -> None:
    run_id = ledger.start_run("staging", "deploy", "ci", None, None)
    with_digest = ledger.begin_action(run_id, "010-web", "install", None, "1.0.0", values_digest=V1)
    without = ledger.begin_action(run_id, "020-db", "unlock", None, None)
    run = ledger.run(run_id)
    assert run is not None
    assert {a.id: a.values_digest for a in run.actions} == {with_digest: V1, without: None}


def test_succeeded_in_requires_exactly_that_version_and_values(ledger: Ledger) -> None:
    assert not ledger.succeeded_in("staging", "010-web", "1.0.0", V1)
    deploy(ledger, "staging", "1.0.0", V1)
    assert ledger.succeeded_in("staging", "010-web", "1.0.0", V1)
    assert not ledger.succeeded_in("staging", "010-web", "1.0.0", V2)  # other values
    assert not ledger.succeeded_in("staging", "010-web", "1.0.1", V1)  # other chart version
    assert not ledger.succeeded_in("prod", "010-web", "1.0.0", V1)  # other environment
    assert not ledger.succeeded_in("staging", "020-db", "1.0.0", V1)  # other release


def test_a_failed_run_counts_only_when_the_release_itself_ended_healthy(ledger: Ledger) -> None:
    # Another release failed the run; this one was installed, verified and left in place.
    deploy(ledger, "staging", "1.0.0", V1, action="install", run_outcome="failed")
    assert ledger.succeeded_in("staging", "010-web", "1.0.0", V1)
    # --on-failure rollback-run rolled this release back after it had been healthy.
    deploy(ledger, "qa", "1.0.0", V1, run_outcome="rolled_back", undo="rollback")
    assert not ledger.succeeded_in("qa", "010-web", "1.0.0", V1)
    deploy(ledger, "dev", "1.0.0", V1, action="install", run_outcome="rolled_back", undo="uninstall")
    assert not ledger.succeeded_in("dev", "010-web", "1.0.0", V1)
    # The action itself failed verification.
    deploy(ledger, "perf", "1.0.0", V1, outcome="failed", run_outcome="failed")
    assert not ledger.succeeded_in("perf", "010-web", "1.0.0", V1)
    # Actions recorded without a digest (before 0003, or by rollbacks) never match one.
    deploy(ledger, "legacy", "1.0.0", None)
    assert not ledger.succeeded_in("legacy", "010-web", "1.0.0", V1)


def test_a_bad_values_digest_is_refused_and_nothing_is_written(ledger: Ledger) -> None:
    run_id = ledger.start_run("staging", "deploy", "ci", None, None)
    with pytest.raises(ValueError, match="values_digest must be a sha256 hex digest") as err:
        ledger.begin_action(run_id, "010-web", "install", None, "1.0.0", values_digest="password: hunter2")
    assert "hunter2" not in str(err.value)
    assert ledger.counts()["release_actions"] == 0
    with pytest.raises(ValueError, match="values_digest must be a sha256 hex digest"):
        ledger.succeeded_in("staging", "010-web", "1.0.0", "abc")
