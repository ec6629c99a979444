"""The worker's jobs, one by one: the approval-expiry sweep notes each lapsed approval once, the drift
check skips an environment it cannot reach, a failing job does not stop the others, and only the lease
holder runs them."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gripctl.ledger import open_ledger
from gripctl.service.worker import Job, Worker, check_drift, default_jobs, sweep_expired_approvals


def test_expired_approvals_are_noted_once(platform: Path) -> None:
    ledger = open_ledger(root=platform)
    ledger.save_plan("d" * 64, "production", {"has_changes": True}, None, requested_by="alice")
    ledger.approve("d" * 64, "bob", None, method="token", expires_at=datetime.now(UTC) + timedelta(hours=1))
    ledger.approve(
        "d" * 64, "carol", None, method="token", expires_at=datetime.now(UTC) + timedelta(seconds=1)
    )
    time.sleep(1.2)
    first = sweep_expired_approvals(platform, ledger)
    assert len(first) == 1 and first[0].startswith("d" * 64)  # carol's lapsed; bob's holds
    assert sweep_expired_approvals(platform, ledger) == []  # once
    [entry] = ledger.audit_log(action="approval.expire")
    assert entry.actor == "gripctl" and entry.detail == {"plan": "d" * 12, "approver": "carol"}


def test_the_drift_check_skips_an_unreachable_cluster(platform: Path) -> None:
    ledger = open_ledger(root=platform)
    assert check_drift(platform, ledger) == {}  # no-such-context: logged, nothing recorded
    assert ledger.open_drift() == []
    assert [j.name for j in default_jobs()] == ["incident escalation", "approval expiry", "drift check"]
    assert [j.name for j in default_jobs(drift_every=0)] == ["incident escalation", "approval expiry"]


def test_only_the_lease_holder_runs_jobs_and_a_failing_job_stops_nothing(platform: Path) -> None:
    ran: list[str] = []

    def boom(_root: Path, _ledger: object) -> None:
        ran.append("boom")
        raise RuntimeError("broken job")

    def fine(_root: Path, _ledger: object) -> None:
        ran.append("fine")

    a = Worker(platform, [Job("boom", 0, boom), Job("fine", 0, fine)], ttl=30)
    b = Worker(platform, [Job("boom", 0, boom), Job("fine", 0, fine)], ttl=30)
    assert a.step() is True and b.step() is False
    assert ran == ["boom", "fine"] and a.ticks == {"fine": 1}
    assert a.step() is True and b.step() is False
    assert ran == ["boom", "fine", "boom", "fine"]
