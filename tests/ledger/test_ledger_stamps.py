"""The DORA stamps finish_run writes (commits.lead_seconds/deployed_at, runs.restored_at), and the v0002
migration that back-fills them on an existing ledger with the same rules, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from alembic import command
from sqlalchemy import text

from gripctl.ledger import CommitInfo, Ledger
from gripctl.ledger.db import alembic_config
from gripctl.ledger.testing import Clock


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


def deploy(
    ledger: Ledger,
    clock: Clock,
    env: str,
    start: datetime,
    end: datetime,
    outcome: str,
    commits: tuple[tuple[str, datetime], ...] = (),
    kind: str = "deploy",
) -> int:
    clock.now = start
    run_id = ledger.start_run(env, kind, "ci", None, None)
    ledger.record_commits(run_id, [CommitInfo(sha, when, "dev", sha) for sha, when in commits])
    clock.now = end
    ledger.finish_run(run_id, outcome)
    return run_id


def build(ledger: Ledger, clock: Clock) -> dict[str, int]:
    c1, c2, c3 = ("c1", at(1, 8)), ("c2", at(2, 8)), ("c3", at(2, 9))
    return {
        "d1": deploy(ledger, clock, "prod", at(1, 10), at(1, 11), "succeeded", (c1,)),
        "d2": deploy(ledger, clock, "prod", at(2, 10), at(2, 11), "failed", (c2,)),
        "d3": deploy(ledger, clock, "prod", at(2, 12), at(2, 13), "rolled_back", (c2,)),
        # A successful rollback run is not a deploy: it recovers nothing and ships nothing.
        "rb": deploy(ledger, clock, "prod", at(2, 14), at(2, 15), "succeeded", (c2,), kind="rollback"),
        "d4": deploy(ledger, clock, "prod", at(3, 10), at(3, 12), "succeeded", (c2, c3)),
        # c1 again (say, a re-run from an old base): prod shipped it already, so no second lead time.
        "d5": deploy(ledger, clock, "prod", at(4, 10), at(4, 11), "succeeded", (c1,)),
        "d6": deploy(ledger, clock, "prod", at(5, 10), at(5, 11), "interrupted"),  # not recovered yet
        # Another environment ships c1 for the first time: its own lead time.
        "q1": deploy(ledger, clock, "qa", at(1, 20), at(1, 21), "succeeded", (c1,)),
    }


def stamps(ledger: Ledger) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    with ledger.engine.connect() as conn:
        commits = conn.execute(
            text(
                "SELECT run_id, sha, environment, lead_seconds FROM commits "
                "WHERE lead_seconds IS NOT NULL ORDER BY run_id, sha"
            )
        ).all()
        runs = conn.execute(text("SELECT id FROM runs WHERE restored_at IS NOT NULL ORDER BY id")).all()
    return [tuple(r) for r in commits], [tuple(r) for r in runs]


def test_finish_run_stamps_first_shipped_commits_and_recovered_failures(ledger: Ledger, clock: Clock) -> None:
    ids = build(ledger, clock)
    commits, restored = stamps(ledger)
    # c1: 08:00 -> d1 11:00 = 3 h; c2 rode in the failed d2/d3 and shipped with d4: 03-02 08:00 -> 03-03
    # 12:00 = 28 h, counted once; c3 09:00 -> 03-03 12:00 = 27 h; qa's c1: 08:00 -> 21:00 = 13 h.
    assert commits == [
        (ids["d1"], "c1", "prod", 3 * 3600.0),
        (ids["d4"], "c2", "prod", 28 * 3600.0),
        (ids["d4"], "c3", "prod", 27 * 3600.0),
        (ids["q1"], "c1", "qa", 13 * 3600.0),
    ]
    assert restored == [(ids["d2"],), (ids["d3"],)]  # d6 is not recovered; the rollback run did not count
    with ledger.engine.connect() as conn:
        when = conn.execute(text("SELECT restored_at FROM runs WHERE id = :i"), {"i": ids["d2"]}).scalar_one()
    assert str(when).startswith("2026-03-03 12:00:00")


def test_commits_recorded_after_a_successful_finish_are_stamped(ledger: Ledger, clock: Clock) -> None:
    clock.now = at(1, 10)
    run_id = ledger.start_run("prod", "deploy", "ci", None, None)
    clock.now = at(1, 11)
    ledger.finish_run(run_id, "succeeded")
    ledger.record_commits(run_id, [CommitInfo("late", at(1, 9), "dev", "late")])
    assert stamps(ledger)[0] == [(run_id, "late", "prod", 2 * 3600.0)]


def test_migration_backfills_the_same_stamps(ledger: Ledger, clock: Clock) -> None:
    build(ledger, clock)
    expected = stamps(ledger)
    cfg = alembic_config()
    with ledger.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0001")  # drops the stamp columns
        command.upgrade(cfg, "head")  # adds them back and back-fills them from the history
    assert stamps(ledger) == expected
    assert expected[0] and expected[1]
