"""Drift findings: a new drift is told from the same one seen again by its fingerprint; a different
drift supersedes the open one; a clean check resolves it; history and open drift are listed. On SQLite
and PostgreSQL, concurrent checks included."""

from __future__ import annotations

import hashlib
import json
import threading
from typing import Any

import pytest

from gripctl.ledger import DriftKind, Ledger
from gripctl.ledger.testing import Clock

REPLICAS = [{"object": "Deployment/web", "path": "spec.replicas", "want": 3, "have": 5}]
IMAGE = [{"object": "Deployment/web", "path": "spec.template.spec.containers[0].image", "want": "***"}]


def fingerprint(findings: Any) -> str:
    return hashlib.sha256(json.dumps(findings, sort_keys=True).encode()).hexdigest()


def test_same_drift_again_is_not_new_a_different_one_supersedes_it(ledger: Ledger, clock: Clock) -> None:
    assert ledger.record_drift("prod", "010-web", "live", fingerprint(REPLICAS), REPLICAS)
    first_seen = clock.now
    clock.advance(300)
    assert not ledger.record_drift("prod", "010-web", DriftKind.live, fingerprint(REPLICAS), REPLICAS)
    (open_,) = ledger.open_drift("prod")
    assert (open_.kind, open_.findings, open_.first_seen, open_.last_seen) == (
        DriftKind.live,
        REPLICAS,
        first_seen,
        clock.now,
    )
    # The same release drifting from the repository is a separate finding.
    assert ledger.record_drift("prod", "010-web", "repository", fingerprint(IMAGE), IMAGE)

    clock.advance(300)
    assert ledger.record_drift("prod", "010-web", "live", fingerprint(IMAGE), IMAGE)  # changed: new
    live = [d for d in ledger.open_drift("prod") if d.kind is DriftKind.live]
    assert [d.fingerprint for d in live] == [fingerprint(IMAGE)]
    superseded = ledger.drift_history("010-web")[-1]
    assert (superseded.fingerprint, superseded.resolved_at) == (fingerprint(REPLICAS), clock.now)

    clock.advance(300)
    assert ledger.resolve_drift("prod", "010-web", "live")
    assert not ledger.resolve_drift("prod", "010-web", "live")  # nothing open any more
    assert [d.kind for d in ledger.open_drift("prod")] == [DriftKind.repository]
    # The first drift coming back after it was resolved is new again.
    assert ledger.record_drift("prod", "010-web", "live", fingerprint(REPLICAS), REPLICAS)


def test_history_filters_by_release_and_environment_newest_first(ledger: Ledger) -> None:
    ledger.record_drift("prod", "010-web", "live", fingerprint(REPLICAS), REPLICAS)
    ledger.record_drift("staging", "010-web", "live", fingerprint(REPLICAS), REPLICAS)
    ledger.record_drift("prod", "020-db", "repository", fingerprint(IMAGE), IMAGE)
    assert [(d.environment, d.release_id) for d in ledger.drift_history()] == [
        ("prod", "020-db"),
        ("staging", "010-web"),
        ("prod", "010-web"),
    ]
    assert [d.environment for d in ledger.drift_history("010-web")] == ["staging", "prod"]
    assert [d.release_id for d in ledger.drift_history(environment="prod")] == ["020-db", "010-web"]
    assert [d.release_id for d in ledger.drift_history("010-web", "prod")] == ["010-web"]
    assert len(ledger.drift_history(limit=1)) == 1
    assert [d.release_id for d in ledger.open_drift("prod")] == ["010-web", "020-db"]
    assert ledger.open_drift("qa") == []


def test_concurrent_checks_of_one_drift_record_it_once(ledger: Ledger) -> None:
    checks = 6
    barrier = threading.Barrier(checks)
    results: list[bool] = []
    errors: list[BaseException] = []

    def check() -> None:
        barrier.wait()
        try:
            results.append(ledger.record_drift("prod", "010-web", "live", fingerprint(REPLICAS), REPLICAS))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=check) for _ in range(checks)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert sorted(results) == [False] * (checks - 1) + [True]
    assert len(ledger.drift_history()) == 1


def test_bad_drift_is_refused_and_nothing_is_written(ledger: Ledger) -> None:
    with pytest.raises(ValueError, match="fingerprint must be a sha256 hex digest"):
        ledger.record_drift("prod", "010-web", "live", "not-a-digest", REPLICAS)
    with pytest.raises(ValueError, match="fingerprint must be a sha256 hex digest"):
        ledger.record_drift("prod", "010-web", "live", fingerprint(REPLICAS).upper(), REPLICAS)
    with pytest.raises(ValueError, match="'cluster' is not a valid DriftKind"):
        ledger.record_drift("prod", "010-web", "cluster", fingerprint(REPLICAS), REPLICAS)
    with pytest.raises(ValueError, match="findings are the objects"):
        ledger.record_drift("prod", "010-web", "live", fingerprint(REPLICAS), None)
    with pytest.raises(ValueError, match="'cluster' is not a valid DriftKind"):
        ledger.resolve_drift("prod", "010-web", "cluster")
    assert ledger.counts()["drift_findings"] == 0
