"""Leases for leader election among server replicas sharing one ledger: taken, renewed, expired and
taken over, released, and raced for with exactly one winner. On SQLite and PostgreSQL."""

from __future__ import annotations

import threading

import pytest

from gripctl.ledger import Ledger
from gripctl.ledger.testing import Clock


def test_lease_is_held_renewed_and_taken_over_only_when_expired(ledger: Ledger, clock: Clock) -> None:
    assert ledger.lease("leader") is None
    assert ledger.try_lease("leader", "replica-a", ttl_seconds=30)
    held = ledger.lease("leader")
    assert held is not None and (held.holder, held.renewed_at) == ("replica-a", clock.now)
    assert not ledger.try_lease("leader", "replica-b", ttl_seconds=30)
    assert ledger.try_lease("scheduler", "replica-b", ttl_seconds=30)  # another lease is free

    clock.advance(20)
    assert ledger.try_lease("leader", "replica-a", ttl_seconds=30)  # renewed: now until +50 s
    renewed = ledger.lease("leader")
    assert renewed is not None and renewed.renewed_at == clock.now and renewed.expires_at > held.expires_at
    clock.advance(25)
    assert not ledger.try_lease("leader", "replica-b", ttl_seconds=30)
    assert not ledger.release_lease("leader", "replica-b")  # not b's to release
    clock.advance(10)  # a stopped renewing: expired
    assert ledger.try_lease("leader", "replica-b", ttl_seconds=30)
    assert not ledger.try_lease("leader", "replica-a", ttl_seconds=30)  # a comes back and learns it lost
    taken = ledger.lease("leader")
    assert taken is not None and taken.holder == "replica-b"
    assert ledger.release_lease("leader", "replica-b")
    assert ledger.lease("leader") is None
    assert ledger.try_lease("leader", "replica-a", ttl_seconds=30)  # released: free at once


def test_lease_race_has_exactly_one_winner(ledger: Ledger, clock: Clock) -> None:
    assert ledger.try_lease("leader", "old", ttl_seconds=5)
    clock.advance(6)  # expired: every contender may take it over, one does
    contenders = [f"replica-{i}" for i in range(8)]
    barrier = threading.Barrier(len(contenders))
    results: dict[str, bool] = {}

    def contend(holder: str) -> None:
        barrier.wait()
        results[holder] = ledger.try_lease("leader", holder, ttl_seconds=30)

    threads = [threading.Thread(target=contend, args=(h,)) for h in contenders]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    winners = [h for h, ok in results.items() if ok]
    assert len(results) == 8 and len(winners) == 1
    held = ledger.lease("leader")
    assert held is not None and held.holder == winners[0]


def test_bad_leases_are_refused_and_nothing_is_written(ledger: Ledger) -> None:
    with pytest.raises(ValueError, match="lease 'leader': ttl_seconds must be positive, not 0"):
        ledger.try_lease("leader", "replica-a", ttl_seconds=0)
    with pytest.raises(ValueError, match="needs a name and a holder"):
        ledger.try_lease("leader", "", ttl_seconds=30)
    assert ledger.counts()["leases"] == 0
    assert not ledger.release_lease("leader", "replica-a")
