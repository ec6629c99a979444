"""Several `gripctl serve` replicas on one ledger run the worker's jobs on exactly one of them: the
leader, elected with a ledger lease. Two real server processes, on SQLite and on PostgreSQL: one leads,
incidents escalate once per level (never twice), and when the leader is killed (SIGKILL: no goodbye)
the other takes over within the lease's time to live and escalation goes on."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from web_helpers import free_port, write_platform

from gripctl.ledger import open_ledger
from gripctl.ledger.testing import POSTGRES_URL_ENV, postgres_schema_url
from gripctl.ledger.types import IncidentEventKind, Severity

TTL = 3.0


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'shared-ledger.sqlite'}"
        return
    base = os.environ.get(POSTGRES_URL_ENV)
    if not base:
        pytest.skip(f"{POSTGRES_URL_ENV} is not set: run `make postgres` and export it (make test does)")
    with postgres_schema_url(base) as url:
        yield url


@contextmanager
def replica(root: Path, url: str, log: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    env = {
        **os.environ,
        "GRIPCTL_DATABASE_URL": url,
        "GRIPCTL_SERVE_WORKER_TTL": str(TTL),
        "GRIPCTL_SERVE_ESCALATE_EVERY": "0.5",
        "GRIPCTL_SESSION_SECRET": "shared-by-the-replicas",
    }
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gripctl.cli.app", "-C", str(root), "serve", "--port", str(port),
             "--status-every", "3600"],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield proc, base
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()


def leading(base: str) -> bool | None:
    try:
        return bool(httpx.get(f"{base}/readyz", timeout=2).json()["leader"])
    except httpx.HTTPError:
        return None


def wait_for(predicate: object, seconds: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if predicate():  # type: ignore[operator]
            return time.monotonic() - started
        time.sleep(0.2)
    raise AssertionError(f"not within {seconds} s")


def test_one_leader_and_a_takeover_when_it_dies(tmp_path: Path, ledger_url: str) -> None:
    root = write_platform(
        tmp_path / "repo",
        {"production": {"context": "x"}},
        incidents={
            "escalation": [
                {"level": "on-call", "after": "2s", "notify": []},
                {"level": "lead", "after": "2s", "notify": []},
                {"level": "manager", "after": "2s", "notify": []},
                {"level": "cto", "notify": []},
            ]
        },
    )
    ledger = open_ledger(ledger_url)
    with (
        replica(root, ledger_url, tmp_path / "a.log") as (a, url_a),
        replica(root, ledger_url, tmp_path / "b.log") as (b, url_b),
    ):
        wait_for(lambda: [leading(url_a), leading(url_b)].count(True) == 1, TTL * 6)
        leader, follower = ((a, url_a), (b, url_b)) if leading(url_a) else ((b, url_b), (a, url_a))
        for _ in range(5):  # and it stays one
            assert [leading(url_a), leading(url_b)].count(True) == 1
            time.sleep(0.3)
        from gripctl.incidents.service import IncidentService  # noqa: F401  (the worker's tick below)

        incident = ledger.open_incident(
            "production", "checkout down", Severity.P1, next_escalation_at=datetime.now(UTC)
        )

        def escalations() -> int:
            record = ledger.incident(incident)
            assert record is not None
            return sum(1 for e in record.events if e.kind is IncidentEventKind.escalated)

        wait_for(lambda: escalations() >= 1, 30)
        leader[0].send_signal(signal.SIGKILL)
        leader[0].wait(10)
        # The lease runs out at most TTL after the dead leader's last renewal; the follower looks every
        # second. The margin is for a machine under load, where each round is slower.
        took = wait_for(lambda: leading(follower[1]) is True, TTL + 20)
        assert took <= TTL + 20, took
        wait_for(lambda: escalations() >= 3, 40)
        time.sleep(2.5)
        record = ledger.incident(incident)
        assert record is not None
        levels = [e.message for e in record.events if e.kind is IncidentEventKind.escalated]
        # Once per level, in order, whichever replica ran the tick: never twice.
        assert levels == [
            "not acknowledged in time: escalated to lead",
            "not acknowledged in time: escalated to manager",
            "not acknowledged in time: escalated to cto",
        ], levels
        lease = ledger.lease("gripctl-worker")
        assert lease is not None and lease.expires_at > datetime.now(UTC)
    ledger.close()
