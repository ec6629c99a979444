"""Crash recovery: find runs that died mid-way, put their releases back in a clean state, close them.

A run is interrupted when the ledger still says `running` but its lock expired or its process is
gone (`Ledger.interrupted_runs`, once the next run holds the lock) — unless it never held the lock
and may still be on its way to it (`on_its_way`): a rival started at the same instant, refused or
waiting, is alive and changed nothing. For each release the dead run
was acting on (write-ahead actions not finished), recovery observes the release and drives it with
the goal `check` through the same actions as a deploy:

- `pending-*` (helm was interrupted): wait while a helm process for it still runs on this host (it
  outlives a `kill -9` of gripctl and usually finishes), then Unlock: back to the last good revision,
  or uninstall when it never deployed;
- `deployed` but never verified: Verify now; if unhealthy, restore the revision from before the run.

"The revision from before the run" comes from the ledger (the `from` of the run's install or upgrade of
the release), not from helm's statuses: a run killed while rolling back a failed upgrade leaves that
failed revision marked `deployed` or `superseded`, and helm would call it good.

The dead run's open action on the release is then closed with what recovery found, and with the
revision it made (helm's record of each revision names the run that made it: `actions.made_by`), so
that the ledger names the run behind every revision helm has: `succeeded` when that revision was
verified healthy and kept, `rolled_back` when it was restored, `interrupted` when helm never finished
it (`pending-*`, unlocked).
"""

from __future__ import annotations

import asyncio
import socket
import time

from gripctl.adapters.helm import HistoryEntry
from gripctl.engine.actions import made_by
from gripctl.engine.events import EventKind
from gripctl.engine.lifecycle import Run
from gripctl.engine.locks import LEASE_SECONDS, Holder
from gripctl.engine.ports import HelmPort
from gripctl.engine.release import Goal, ReleaseRun, standalone
from gripctl.engine.runner import drive
from gripctl.ledger.store import Ledger
from gripctl.ledger.types import ActionKind, ActionOutcome, ActionRecord, RunRecord
from gripctl.model.types import Platform, Release
from gripctl.observe.processes import helm_running_for

SETTLE_SECONDS = 60.0  # the longest recovery waits for an orphaned helm to finish by itself


def on_its_way(record: RunRecord, age_seconds: float) -> bool:
    """A `running` run without a live lock that never held it, and may still be asking for it: its
    process runs on this host, or it started on another host less than a lease ago. Not interrupted."""
    if any(e.kind == EventKind.lock.value and (e.data or {}).get("acquired") for e in record.events):
        return False  # it held the lock, and lost it: interrupted (killed, or stopped past its lease)
    holder = Holder("", record.host, record.pid, record.id)
    if holder.host == socket.gethostname():
        return not holder.process_gone()
    return age_seconds < LEASE_SECONDS


def last_good_revision(entries: list[HistoryEntry], before: int | None = None) -> int | None:
    """The newest revision that ran successfully (deployed, or superseded by a later one)."""
    good = [
        e.revision
        for e in entries
        if e.status in ("deployed", "superseded") and (before is None or e.revision < before)
    ]
    return max(good) if good else None


def revision_before_run(actions: list[ActionRecord], release_id: str) -> tuple[bool, int | None]:
    """(known, revision): what ran before the run first installed or upgraded the release; (True, None)
    for a first install; (False, None) when the run never did (then helm's history has to tell)."""
    for a in sorted(actions, key=lambda a: a.id):
        if a.release_id == release_id and a.action in (ActionKind.install, ActionKind.upgrade):
            return True, a.from_revision
    return False, None


async def _settle(helm: HelmPort, release: Release, wait_seconds: float) -> list[HistoryEntry]:
    """History, after waiting (bounded) for an orphaned helm of a dead run to finish its operation —
    also when helm has recorded nothing yet (a first install it was just starting): "nothing was ever
    created" while that helm runs would let the next run install beside it."""
    deadline = time.monotonic() + wait_seconds
    while True:
        entries = await helm.history(release)
        latest = max(entries, key=lambda e: e.revision) if entries else None
        pending = latest is None or latest.status.startswith("pending-")
        if (
            not pending
            or time.monotonic() >= deadline
            or not helm_running_for(release.name, release.namespace)
        ):
            return entries
        await asyncio.sleep(0.5)


async def leftover(helm: HelmPort, release: Release, good: int | None, known: bool) -> ReleaseRun | None:
    """What a dead run left of `release`, as a ReleaseRun to drive; None when it is clean already."""
    entries = await _settle(helm, release, min(release.timeout_seconds, SETTLE_SECONDS))
    if not entries:
        return None  # nothing was ever created
    latest = max(entries, key=lambda e: e.revision)
    if latest.status.startswith("pending-"):
        if not known:
            good = last_good_revision(entries, before=latest.revision)
        return standalone(
            release,
            Goal.check,
            helm_status=latest.status,
            locked=True,
            previous_good=good,
            revision=latest.revision,
        )
    if latest.status != "deployed":
        return None  # failed/superseded: the next plan upgrades it; nothing is half-done
    if not known and good is None:
        good = last_good_revision(entries, before=latest.revision)
    manifest = await helm.manifest(release, latest.revision)
    return standalone(
        release,
        Goal.check,
        helm_status=latest.status,
        previous_good=good,
        revision=latest.revision,
        manifest=manifest,
    )


def made_revision(entries: list[HistoryEntry], run_id: int, after: int | None) -> int | None:
    """The newest revision helm's record says run `run_id` made, newer than `after` (the revision the
    action started from): None when helm made nothing for it."""
    mine = [
        e.revision
        for e in entries
        if e.description == made_by(run_id) and (after is None or e.revision > after)
    ]
    return max(mine, default=None)


def found_outcome(rr: ReleaseRun, was_locked: bool) -> ActionOutcome:
    """What became of a dead run's open action, as recovery found it."""
    if was_locked:
        return ActionOutcome.interrupted  # helm never finished it; unlocking undid it
    if rr.failure is None:
        return ActionOutcome.succeeded  # its revision was verified healthy and kept
    return ActionOutcome.failed if rr.gave_up else ActionOutcome.rolled_back


def outcome_line(rr: ReleaseRun, was_locked: bool) -> str:
    """What recovery did to one release, in one line for the run's record and the operator."""
    if was_locked:
        done = (
            f"rolled back to revision {rr.previous_good}"
            if rr.previous_good is not None
            else "uninstalled (its first install never completed)"
        )
        return f"unlocking failed: {rr.reason}" if rr.gave_up else done
    if rr.failure is None:
        return f"revision {rr.revision} was deployed and is healthy"
    if rr.gave_up:
        return rr.reason
    if rr.uninstalled:
        return f"{rr.failure}; uninstalled"
    return f"{rr.failure}; rolled back to {rr.previous_good}"


async def recover_interrupted(run: Run, ledger: Ledger, platform: Platform) -> list[str]:
    """Recover every interrupted run of the environment; returns one line per thing done."""
    done: list[str] = []
    for dead in ledger.interrupted_runs(platform.environment.name):
        if dead.id == run.run_id:
            continue
        full = ledger.run(dead.id)
        if full is None or on_its_way(full, (ledger.clock() - full.started_at).total_seconds()):
            continue
        actions = list(full.actions)
        unfinished = [a for a in actions if a.outcome in (ActionOutcome.running, ActionOutcome.pending)]
        for rid in dict.fromkeys(a.release_id for a in unfinished):
            if rid not in platform.releases:
                continue
            release = platform.release(rid)
            known, before = revision_before_run(actions, rid)
            fallback = next(a.from_revision for a in unfinished if a.release_id == rid)
            rr = await leftover(run.ctx.helm, release, before if known else fallback, known)
            if rr is None:
                continue
            was_locked = rr.locked
            await drive(run.ctx, rr)
            opened = max((a for a in unfinished if a.release_id == rid), key=lambda a: a.id)
            made = made_revision(await run.ctx.helm.history(release), dead.id, opened.from_revision)
            outcome = found_outcome(rr, was_locked)
            note = (
                None if outcome is ActionOutcome.succeeded else f"interrupted; recovered by run {run.run_id}"
            )
            ledger.finish_action(opened.id, outcome, made, note)
            line = outcome_line(rr, was_locked)
            done.append(f"{rid}: {line}")
            run.emitter.emit(EventKind.recovered, f"recovered after run {dead.id}: {line}", release_id=rid)
        ledger.mark_interrupted(dead.id, f"interrupted; recovered by run {run.run_id}")
        done.append(f"run {dead.id} marked interrupted")
        run.emitter.emit(
            EventKind.recovered, f"run {dead.id} was interrupted; marked so", interrupted_run=dead.id
        )
    return done
