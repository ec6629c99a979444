"""The server's worker: the periodic jobs of a platform (incident escalation, approval expiry, and the
scheduled checks other parts register, such as drift), run by exactly one replica at a time.

Replicas of `gripctl serve` on one ledger elect a leader with a ledger lease (`try_lease`): the leader
renews it every few seconds and runs the jobs; the others only keep trying. A leader that dies stops
renewing, its lease expires after `ttl` seconds, and another replica takes over — so a tick is never
run twice at once, and never stops for longer than the lease's time to live.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gripctl.ledger.store import Ledger
from gripctl.service.workspace import ledger_of

log = logging.getLogger(__name__)
LEASE = "gripctl-worker"


@dataclass
class Job:
    """A periodic job: `run(root, ledger)` every `every` seconds, on the leader only."""

    name: str
    every: float
    run: Callable[[Path, Ledger], object]
    last: float = field(default=0.0)  # monotonic time of the last start


def escalate_incidents(root: Path, _ledger: Ledger) -> object:
    from gripctl.service.incidents import tick

    return tick(root)


def sweep_expired_approvals(root: Path, ledger: Ledger) -> object:
    """Record in the audit log each approval that expired since the last sweep (once per approval):
    its plan is awaiting a decision again."""
    now = datetime.now(UTC)
    noted = {e.target for e in ledger.audit_log(action="approval.expire", limit=1000)}
    out = []
    for approval in ledger.expired_approvals(now - timedelta(days=7), now):
        key = f"{approval.plan_digest}/{approval.id}"
        if key in noted:
            continue
        ledger.record_audit(
            "gripctl",
            "worker",
            "approval.expire",
            key,
            {"plan": approval.plan_id, "approver": approval.approver},
        )
        out.append(key)
    return out


def check_drift(root: Path, _ledger: Ledger) -> object:
    """`gripctl drift` of every environment: findings recorded, a new drift notified once
    (docs/drift.md). An environment whose cluster cannot be reached is skipped until the next round."""
    import asyncio as aio

    from gripctl.model.loader import environment_names
    from gripctl.service.drift import DriftRequest, drift

    found = {}
    for env in environment_names(root):
        try:
            result = aio.run(drift(DriftRequest(root, env)))
        except Exception as exc:  # the next round tries again; one environment never stops the others
            log.warning("drift check of %s failed: %s", env, getattr(exc, "message", exc))
            continue
        found[env] = result
    return found


# Jobs other parts add: `register(Job(...))` before the server starts.
EXTRA_JOBS: list[Job] = []


def register(job: Job) -> None:
    EXTRA_JOBS.append(job)


def default_jobs(
    escalate_every: float = 10.0, expiry_every: float = 60.0, drift_every: float = 300.0
) -> list[Job]:
    """The leader's jobs; `drift_every` 0 leaves the scheduled drift check out."""
    jobs = [
        Job("incident escalation", escalate_every, escalate_incidents),
        Job("approval expiry", expiry_every, sweep_expired_approvals),
    ]
    if drift_every > 0:
        jobs.append(Job("drift check", drift_every, check_drift))
    return [*jobs, *(Job(j.name, j.every, j.run) for j in EXTRA_JOBS)]


def replica_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class Worker:
    root: Path
    jobs: list[Job] = field(default_factory=default_jobs)
    ttl: float = 15.0  # the lease's time to live: how long a dead leader blocks the others
    interval: float = 1.0  # how often a replica looks at the lease and at its jobs
    replica: str = field(default_factory=replica_name)
    leader: bool = False
    ticks: dict[str, int] = field(default_factory=dict)
    _renewed: float = 0.0

    def step(self) -> bool:
        """One round: take or renew the lease (at most every ttl/3), run the due jobs if leading."""
        ledger = ledger_of(self.root)
        now = time.monotonic()
        if not self.leader or now - self._renewed >= self.ttl / 3:
            was = self.leader
            self.leader = ledger.try_lease(LEASE, self.replica, self.ttl)
            self._renewed = now
            if self.leader != was:
                log.warning(
                    "replica %s %s the worker", self.replica, "leads" if self.leader else "stopped leading"
                )
        if not self.leader:
            return False
        for job in self.jobs:
            if now - job.last < job.every:
                continue
            job.last = now
            try:
                job.run(self.root, ledger)
                self.ticks[job.name] = self.ticks.get(job.name, 0) + 1
            except Exception:  # one failing job must not stop the others, nor the server
                log.exception("worker job %r failed", job.name)
        return True

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                try:
                    await asyncio.to_thread(self.step)
                except Exception:  # the ledger may be down for a while: keep trying
                    log.exception("worker round failed")
                    self.leader = False
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.interval)
        finally:
            if self.leader:
                try:
                    await asyncio.to_thread(ledger_of(self.root).release_lease, LEASE, self.replica)
                except Exception:
                    log.exception("could not release the worker lease")
                self.leader = False


def leader(root: Path) -> dict[str, object] | None:
    """Who leads the worker now (None: nobody holds an unexpired lease)."""
    record = ledger_of(root).lease(LEASE)
    if record is None or record.expires_at <= datetime.now(UTC):
        return None
    return {"replica": record.holder, "expires_at": record.expires_at.isoformat()}
