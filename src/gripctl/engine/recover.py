"""Crash recovery: find runs that died mid-way, put their releases back in a clean state, close them.

A run is interrupted when the ledger still says `running` but its lock expired or its process is
gone (found by `Ledger.interrupted_runs` once the next run has taken the lock). For each release the
dead run was acting on (write-ahead actions still `running`):

- `pending-*` (helm was interrupted): wait while a helm process for it still runs on this host (it
  outlives a `kill -9` of gripctl and usually finishes), then roll back to the last good revision, or
  uninstall when it never deployed;
- `deployed` but never verified: verify now; if unhealthy, restore the revision from before the run.

"The revision from before the run" comes from the ledger (the `from` of the run's install or upgrade of
the release), not from helm's statuses: a run killed while rolling back a failed upgrade leaves that
failed revision marked `deployed` or `superseded`, and helm would call it good.

Then the run is marked `interrupted`, and the next deploy plans from a clean state.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from gripctl.adapters import helm
from gripctl.adapters.helm import KubeTarget
from gripctl.adapters.kube import Kube
from gripctl.engine.events import Emitter, EventKind
from gripctl.engine.runner import last_good_revision, unlock_release
from gripctl.engine.verify import ClusterView, verify_release
from gripctl.ledger.store import Ledger
from gripctl.ledger.types import ActionKind, ActionOutcome, ActionRecord
from gripctl.model.types import Platform, Release


def helm_running_for(release: Release) -> bool:
    """Is a helm process on this host operating on this release (by its command line)?"""
    proc = Path("/proc")
    if not proc.is_dir():
        return False
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if (
            argv
            and argv[0].endswith(b"helm")
            and release.name.encode() in argv
            and release.namespace.encode() in argv
        ):
            return True
    return False


async def _settle(release: Release, target: KubeTarget, wait_seconds: float) -> list[helm.HistoryEntry]:
    """History, after waiting (bounded) for an orphaned helm of a dead run to finish its operation."""
    deadline = time.monotonic() + wait_seconds
    while True:
        entries = await helm.history(release.name, release.namespace, target, max_entries=50)
        latest = max(entries, key=lambda e: e.revision) if entries else None
        pending = latest is not None and latest.status.startswith("pending-")
        if not pending or time.monotonic() >= deadline or not helm_running_for(release):
            return entries
        await asyncio.sleep(0.5)


def revision_before_run(actions: list[ActionRecord], release_id: str) -> tuple[bool, int | None]:
    """(known, revision): what ran before the run first installed or upgraded the release; (True, None)
    for a first install; (False, None) when the run never did (then helm's history has to tell)."""
    for a in sorted(actions, key=lambda a: a.id):
        if a.release_id == release_id and a.action in (ActionKind.install, ActionKind.upgrade):
            return True, a.from_revision
    return False, None


async def recover_interrupted(
    ledger: Ledger,
    platform: Platform,
    target: KubeTarget,
    kube: Kube,
    view: ClusterView | None,
    run_id: int,
    emitter: Emitter,
) -> list[str]:
    """Recover every interrupted run of the environment; returns one line per thing done."""
    done: list[str] = []
    for dead in ledger.interrupted_runs(platform.environment.name):
        if dead.id == run_id:
            continue
        full = ledger.run(dead.id)
        actions = list(full.actions) if full else []
        unfinished = [a for a in actions if a.outcome in (ActionOutcome.running, ActionOutcome.pending)]
        for action in unfinished:
            if action.release_id not in platform.releases:
                continue
            release = platform.release(action.release_id)
            known, before = revision_before_run(actions, release.id)
            good = before if known else action.from_revision
            line = await _recover_release(ledger, target, kube, view, run_id, release, good, known)
            if line:
                done.append(f"{release.id}: {line}")
                emitter.emit(
                    EventKind.recovered, f"recovered after run {dead.id}: {line}", release_id=release.id
                )
        ledger.mark_interrupted(dead.id, f"interrupted; recovered by run {run_id}")
        done.append(f"run {dead.id} marked interrupted")
        emitter.emit(
            EventKind.recovered, f"run {dead.id} was interrupted; marked so", interrupted_run=dead.id
        )
    return done


async def _recover_release(
    ledger: Ledger,
    target: KubeTarget,
    kube: Kube,
    view: ClusterView | None,
    run_id: int,
    release: Release,
    good: int | None,
    known: bool,
) -> str:
    """`good`: the revision to return to (None: uninstall); only a hint for the unhealthy case when
    not `known` from the ledger."""
    entries = await _settle(release, target, min(release.timeout_seconds, 60))
    if not entries:
        return ""  # nothing was ever created: clean
    latest = max(entries, key=lambda e: e.revision)
    if latest.status.startswith("pending-"):
        if not known:
            good = last_good_revision(entries, before=latest.revision)
        return await unlock_release(ledger, run_id, release, target, good)
    if latest.status != "deployed" or view is None:
        return ""  # failed/superseded: the next plan upgrades it; nothing is half-done
    manifest = await helm.get_manifest(release.name, release.namespace, target, revision=latest.revision)
    result = await verify_release(
        kube, view, manifest, release.namespace, timeout_seconds=release.timeout_seconds
    )
    if result.ok:
        return f"revision {latest.revision} was deployed and is healthy"
    if not known and good is None:
        good = last_good_revision(entries, before=latest.revision)
    if good is None:
        aid = ledger.begin_action(run_id, release.id, ActionKind.uninstall, latest.revision, None)
        await helm.uninstall(release.name, release.namespace, target, timeout_seconds=release.timeout_seconds)
        ledger.finish_action(aid, ActionOutcome.succeeded)
        return f"revision {latest.revision} was unhealthy ({result.reason}); uninstalled"
    aid = ledger.begin_action(run_id, release.id, ActionKind.rollback, latest.revision, None)
    await helm.rollback(
        release.name, release.namespace, target, revision=good, timeout_seconds=release.timeout_seconds
    )
    ledger.finish_action(aid, ActionOutcome.succeeded, good)
    return f"revision {latest.revision} was unhealthy ({result.reason}); rolled back to {good}"
