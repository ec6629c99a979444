"""The engine's operations as the CLI (and tests, and later the web face) call them.

`deploy` is plan + approve + apply, in an order where every refusal happens before anything changes:
load the platform → open the ledger → reach the cluster → plan (read only) → start the run → lock
the environment → recover interrupted runs (re-plan if that changed anything) → refuse releases
another helm is operating on → approval → run. `rollback`, `recover`, `verify` and `status` reuse
the same pieces.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gripctl.adapters import helm
from gripctl.adapters.helm import KubeTarget
from gripctl.adapters.kube import Kube
from gripctl.engine.approvals import require_approval
from gripctl.engine.events import SINK_FACTORIES, Emitter, EventKind, EventSink, Phase
from gripctl.engine.locks import EnvLock, actor
from gripctl.engine.progress import LedgerSink
from gripctl.engine.recover import helm_running_for, recover_interrupted
from gripctl.engine.runner import OnFailure, ReleaseRun, Runner, RunOptions, RunResult, last_good_revision
from gripctl.engine.verify import Baseline, ClusterView, evaluate, parse_manifest, targets_of, verify_release
from gripctl.errors import GripError, LockedError, UsageError
from gripctl.ledger.git import commits_since
from gripctl.ledger.store import Ledger, open_ledger
from gripctl.ledger.types import ActionKind, ActionOutcome, RunKind, RunOutcome
from gripctl.model.graph import Graph
from gripctl.model.loader import load_platform
from gripctl.model.selection import select
from gripctl.model.types import Platform
from gripctl.observe import check_cluster, snapshot, target_for
from gripctl.plan.compute import compute_plan
from gripctl.plan.digest import check_fresh
from gripctl.plan.serialize import plan_to_dict
from gripctl.plan.types import Plan, ReleaseStatus


def record_shipped_commits(ledger: Ledger, platform: Platform, run_id: int, head: str | None) -> int:
    """Record the commits this run ships (since the environment's last successful deploy), so that lead
    time for changes comes out of the ledger. Best effort: a git problem must not block a deploy."""
    if not head:
        return 0
    since = ledger.last_deployed_commit(platform.environment.name)
    commits = commits_since(platform.root, since, head)
    ledger.record_commits(run_id, commits)
    return len(commits)


@dataclass
class DeployRequest:
    root: Path
    environment: str | None
    only: Sequence[str] = ()
    include_needs: bool = False
    include_dependents: bool = False
    selectors: Sequence[str] = ()
    concurrency: int | None = None
    serial: bool = False
    on_failure: OnFailure = OnFailure.halt
    wait_lock: float = 0.0
    monitor_seconds: float | None = None
    actor: str = field(default_factory=actor)
    saved_plan: Plan | None = None  # `gripctl apply plan.json`: run exactly this plan, or refuse
    confirm: Callable[[str], bool] | None = None  # interactive approval prompt (a TTY), else None
    sinks: list[EventSink] = field(default_factory=list)
    on_plan: Callable[[Platform, Plan], None] | None = None  # shown before locking (progress setup)


@dataclass
class Deployment:
    platform: Platform
    plan: Plan
    result: RunResult
    approver: str | None = None
    recovered: list[str] = field(default_factory=list)


def add_registered_sinks(emitter: Emitter, platform: Platform, run_id: int) -> None:
    """Sinks other rooms registered (incidents, notifications); one that fails to build is skipped."""
    for factory in SINK_FACTORIES:
        try:
            sink = factory(platform, run_id)
        except Exception as exc:  # a broken notifier configuration must not block a deploy
            emitter.emit(
                EventKind.note, f"event sink {getattr(factory, '__name__', factory)} disabled: {exc}"
            )
            continue
        if sink is not None:
            emitter.add(sink)


async def _plan(
    platform: Platform, ids: list[str], target: KubeTarget, kube_version: str | None = None
) -> tuple[Plan, dict[str, bytes]]:
    """The plan, and the decrypted secrets it was computed with (release id -> YAML, memory only)."""
    snap = await snapshot(
        platform, ids, target, concurrency=platform.environment.concurrency, kube_version=kube_version
    )
    secrets = {rid: d.decrypted for rid, d in snap.desired.items() if d.decrypted is not None}
    return compute_plan(platform, snap, ids), secrets


def _selection(platform: Platform, req: DeployRequest) -> list[str]:
    ids = select(
        platform,
        Graph.from_platform(platform),
        only=list(req.only),
        include_needs=req.include_needs,
        include_dependents=req.include_dependents,
        selectors=list(req.selectors),
    )
    if not ids:
        raise UsageError(
            "the selection matches no release", hint="check --only/--selector against `gripctl graph`"
        )
    return ids


def _updated_epoch(text: str) -> float | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


async def refuse_foreign_locks(platform: Platform, plan: Plan, target: KubeTarget) -> None:
    """A pending-* release that is not from a dead gripctl run: is another helm operating on it now?

    Yes when a helm process for it runs on this host, or its pending revision started less than the
    release's timeout ago (the other helm may run elsewhere). Older ones are stale and get unlocked.
    """
    for rp in plan.releases:
        if rp.status is not ReleaseStatus.locked:
            continue
        release = platform.release(rp.release_id)
        entries = await helm.history(release.name, release.namespace, target, max_entries=5)
        latest = max(entries, key=lambda e: e.revision) if entries else None
        started = _updated_epoch(latest.updated) if latest else None
        busy = helm_running_for(release) or (
            started is not None and time.time() - started < release.timeout_seconds
        )
        if busy and latest is not None:
            raise LockedError(
                f"release {release.id} ({release.namespace}/{release.name}) is {latest.status} since "
                f"{latest.updated}: another helm operation is running on it",
                hint="wait for it to finish and re-run; if nobody is running helm, it is unlocked "
                f"automatically once older than its timeout ({release.timeout_seconds}s), or run "
                f"`helm rollback {release.name} -n {release.namespace}`",
            )


async def deploy(req: DeployRequest) -> Deployment:
    platform = load_platform(req.root, req.environment)
    env = platform.environment
    ids = _selection(platform, req)
    if req.saved_plan is not None and req.saved_plan.environment != env.name:
        raise UsageError(
            f"the plan is for environment {req.saved_plan.environment!r}, not {env.name!r}",
            hint=f"run `gripctl apply PLAN -e {req.saved_plan.environment}`",
        )
    if req.saved_plan is not None:
        ids = [rp.release_id for rp in req.saved_plan.releases]
        for rid in ids:
            platform.release(rid)  # a plan naming a release the repository no longer has: UsageError
    ledger = open_ledger(root=platform.root)
    target = target_for(platform)
    kube_version = await check_cluster(target)
    kube = Kube(target)
    # The watches start while the plan is computed: both take a moment, neither needs the other.
    view = ClusterView(kube)
    try:
        _, (plan, secrets) = await asyncio.gather(view.start(), _plan(platform, ids, target, kube_version))
    except BaseException:
        view.stop()
        raise
    try:
        if req.saved_plan is not None:
            check_fresh(req.saved_plan, plan)
    except BaseException:
        view.stop()
        raise
    if req.on_plan is not None:
        req.on_plan(platform, plan)
    emitter = Emitter([LedgerSink(ledger), *req.sinks])
    kind = RunKind.apply if req.saved_plan is not None else RunKind.deploy
    run_id = ledger.start_run(env.name, kind, req.actor, plan.git_commit, plan.digest)
    emitter.run_id = run_id
    try:
        shipped = record_shipped_commits(ledger, platform, run_id, plan.git_commit)
    except Exception as exc:  # lead time loses one data point; the deploy goes on
        shipped = 0
        print(f"warning: could not record the commits of run {run_id}: {exc}", file=sys.stderr)
    add_registered_sinks(emitter, platform, run_id)
    emitter.emit(
        EventKind.run_started,
        f"{kind.value} to {env.name}: plan {plan.id}",
        plan=plan.id,
        releases=ids,
        commits=shipped,
    )
    lock = EnvLock(kube, ledger, env.name, run_id, emitter)
    outcome: RunOutcome = RunOutcome.refused
    error: str | None = "refused before changing anything"
    try:
        await lock.acquire(req.wait_lock)
        recovered = await recover_interrupted(ledger, platform, target, kube, view, run_id, emitter)
        if any(": " in line for line in recovered):  # a release was touched: look again
            plan, secrets = await _plan(platform, ids, target)
            emitter.emit(EventKind.note, f"re-planned after recovery: plan {plan.id}", plan=plan.id)
            if req.saved_plan is not None:
                check_fresh(req.saved_plan, plan)
        await refuse_foreign_locks(platform, plan, target)
        approver = require_approval(
            ledger,
            env,
            plan,
            actor=req.actor,
            confirm=req.confirm,
            save_plan=lambda: ledger.save_plan(plan.digest, env.name, plan_to_dict(plan), plan.git_commit),
        )
        if approver:
            emitter.emit(EventKind.note, f"approved by {approver}", approver=approver)
        concurrency = 1 if req.serial else (req.concurrency or env.concurrency or 4)
        runner = Runner(
            platform,
            plan,
            ledger=ledger,
            kube=kube,
            view=view,
            target=target,
            run_id=run_id,
            emitter=emitter,
            options=RunOptions(concurrency, req.on_failure, req.monitor_seconds),
            secrets=secrets,
        )
        outcome, error = RunOutcome.failed, "the run stopped unexpectedly"
        result = await runner.run()
        outcome = result.outcome
        error = "; ".join(f"{r.id}: {r.reason}" for r in result.failed) or None
        if outcome is not RunOutcome.succeeded and error is None:
            error = "; ".join(f"{r.id}: {r.reason}" for r in result.releases.values() if r.reason) or None
        emitter.emit(
            EventKind.run_finished, f"run {run_id} {outcome.value}: {result.summary()}", outcome=outcome.value
        )
        return Deployment(platform, plan, result, approver, recovered)
    except GripError as exc:
        error = exc.message
        raise
    except BaseException as exc:  # Ctrl-C / cancellation: recorded, and the next run recovers
        outcome, error = RunOutcome.interrupted, f"{type(exc).__name__}: {exc}"
        raise
    finally:
        view.stop()
        ledger.finish_run(run_id, outcome, error)
        await lock.release()
        emitter.close()


# -- manual rollback, recover, verify, status ----------------------------------------------------------


@dataclass
class _Session:
    platform: Platform
    ledger: Ledger
    target: KubeTarget
    kube: Kube


async def _session(root: Path, environment: str | None) -> _Session:
    platform = load_platform(root, environment)
    ledger = open_ledger(root=platform.root)
    target = target_for(platform)
    await check_cluster(target)
    return _Session(platform, ledger, target, Kube(target))


@dataclass
class _LockedRun:
    """A run outside `deploy` (manual rollback, recover): its id, event fan-out, cluster view, and the
    outcome the body sets; `_locked_run` records it whatever happens."""

    run_id: int
    emitter: Emitter
    view: ClusterView
    outcome: RunOutcome = RunOutcome.failed
    error: str | None = None


@contextlib.asynccontextmanager
async def _locked_run(
    s: _Session, kind: RunKind, who: str, sinks: list[EventSink], wait_lock: float
) -> AsyncIterator[_LockedRun]:
    """Start a recorded run, hold the environment lock and a cluster view for its body, and always
    finish the run in the ledger, stop watching, release the lock and close the sinks."""
    env = s.platform.environment.name
    emitter = Emitter([LedgerSink(s.ledger), *sinks])
    run_id = s.ledger.start_run(env, kind, who, None, None)
    emitter.run_id = run_id
    add_registered_sinks(emitter, s.platform, run_id)  # e.g. a stuck release found opens an incident
    lock = EnvLock(s.kube, s.ledger, env, run_id, emitter)
    outcome: RunOutcome = RunOutcome.refused
    error: str | None = "refused before changing anything"
    view: ClusterView | None = None
    try:
        await lock.acquire(wait_lock)
        view = ClusterView(s.kube)
        await view.start()
        run = _LockedRun(run_id, emitter, view)
        outcome, error = RunOutcome.failed, "the run stopped unexpectedly"
        yield run
        outcome, error = run.outcome, run.error
    except GripError as exc:
        error = exc.message
        raise
    finally:
        if view is not None:
            view.stop()
        s.ledger.finish_run(run_id, outcome, error)
        await lock.release()
        emitter.close()


async def rollback(
    root: Path,
    environment: str | None,
    release_id: str,
    revision: int | None,
    *,
    sinks: list[EventSink],
    wait_lock: float = 0.0,
    who: str | None = None,
) -> ReleaseRun:
    """`gripctl rollback RELEASE [REVISION]`: locked, recorded, verified."""
    s = await _session(root, environment)
    release = s.platform.release(release_id)
    entries = await helm.history(release.name, release.namespace, s.target, max_entries=50)
    if not entries:
        raise UsageError(
            f"release {release_id} is not installed in {s.platform.environment.name}: nothing to roll back"
        )
    latest = max(entries, key=lambda e: e.revision)
    if revision is None:
        revision = last_good_revision(entries, before=latest.revision)
        if revision is None:
            raise UsageError(f"release {release_id} has no earlier good revision to roll back to")
    elif revision not in {e.revision for e in entries}:
        known = ", ".join(str(e.revision) for e in entries)
        raise UsageError(f"release {release_id} has no revision {revision}", hint=f"revisions: {known}")
    rr = ReleaseRun(plan=_fake_plan(release_id, release.name, release.namespace), previous_good=revision)
    async with _locked_run(s, RunKind.rollback, who or actor(), sinks, wait_lock) as run:
        emitter = run.emitter
        emitter.emit(
            EventKind.phase,
            f"rolling back to revision {revision}",
            release_id=release_id,
            phase=Phase.rolling_back,
        )
        aid = s.ledger.begin_action(run.run_id, release_id, ActionKind.rollback, latest.revision, None)
        await helm.rollback(
            release.name,
            release.namespace,
            s.target,
            revision=revision,
            timeout_seconds=release.timeout_seconds,
        )
        new = max(e.revision for e in await helm.history(release.name, release.namespace, s.target))
        manifest = await helm.get_manifest(release.name, release.namespace, s.target, revision=new)
        emitter.emit(
            EventKind.phase,
            f"revision {new} applied; verifying",
            release_id=release_id,
            phase=Phase.verifying,
        )
        result = await verify_release(
            s.kube, run.view, manifest, release.namespace, timeout_seconds=release.timeout_seconds
        )
        rr.to_revision = new
        if result.ok:
            s.ledger.finish_action(aid, ActionOutcome.succeeded, new)
            rr.phase = Phase.rolled_back
            run.outcome = RunOutcome.succeeded
            emitter.emit(
                EventKind.phase,
                f"rolled back to revision {revision} (as {new}), healthy",
                release_id=release_id,
                phase=Phase.rolled_back,
            )
        else:
            s.ledger.finish_action(aid, ActionOutcome.failed, new, result.reason)
            rr.phase, rr.reason, run.error = Phase.failed, result.reason, result.reason
            emitter.emit(EventKind.release_failed, result.reason, release_id=release_id, phase=Phase.failed)
    return rr


def _fake_plan(release_id: str, name: str, namespace: str) -> Any:
    from gripctl.plan.types import Action, ReleasePlan

    return ReleasePlan(release_id, name, namespace, Action.upgrade, ReleaseStatus.deployed, None, None, "")


async def recover(
    root: Path, environment: str | None, *, sinks: list[EventSink], wait_lock: float = 0.0
) -> list[str]:
    """`gripctl recover -e ENV`: recover interrupted runs without deploying anything."""
    s = await _session(root, environment)
    async with _locked_run(s, RunKind.recover, actor(), sinks, wait_lock) as run:
        done = await recover_interrupted(
            s.ledger, s.platform, s.target, s.kube, run.view, run.run_id, run.emitter
        )
        run.outcome = RunOutcome.succeeded
    return done


@dataclass(frozen=True)
class ReleaseStatusRow:
    release_id: str
    helm_name: str
    namespace: str
    status: str  # helm's word, or absent
    revision: int | None
    chart_version: str | None
    desired_chart_version: str
    health: str  # healthy | progressing | failed | absent
    health_reason: str
    drift: bool
    action: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


async def status(root: Path, environment: str | None, only: Sequence[str] = ()) -> list[ReleaseStatusRow]:
    """Every release: revision, chart version, health now (one evaluation of the watch cache), drift."""
    platform = load_platform(root, environment)
    ids = select(platform, Graph.from_platform(platform), only=list(only))
    target = target_for(platform)
    snap = await snapshot(platform, ids, target, concurrency=platform.environment.concurrency)
    plan = compute_plan(platform, snap, ids)
    kube = Kube(target)
    view = ClusterView(kube)
    await view.start()
    try:
        rows = []
        for rp in plan.releases:
            observed = snap.observed[rp.release_id]
            if observed.exists:
                health = evaluate(
                    view, targets_of(parse_manifest(observed.manifest, rp.namespace)), Baseline()
                )
                state, why = health.state, health.reason
            else:
                state, why = "absent", ""
            rows.append(
                ReleaseStatusRow(
                    rp.release_id,
                    rp.helm_name,
                    rp.namespace,
                    observed.helm_status or "absent",
                    observed.revision,
                    observed.chart_version,
                    rp.desired_chart_version,
                    state,
                    why,
                    rp.changed,
                    rp.action.value,
                )
            )
        return rows
    finally:
        view.stop()


@dataclass(frozen=True)
class VerifyRow:
    release_id: str
    ok: bool
    reason: str
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


async def verify(
    root: Path, environment: str | None, only: Sequence[str] = (), *, timeout: float | None = None
) -> list[VerifyRow]:
    """`gripctl verify`: the post-deployment checks of every installed release, on demand, in parallel."""
    platform = load_platform(root, environment)
    ids = select(platform, Graph.from_platform(platform), only=list(only))
    target = target_for(platform)
    await check_cluster(target)
    kube = Kube(target)
    view = ClusterView(kube)
    await view.start()

    async def one(rid: str) -> VerifyRow:
        release = platform.release(rid)
        entries = await helm.history(release.name, release.namespace, target, max_entries=5)
        if not entries:
            return VerifyRow(rid, False, "not installed", 0.0)
        manifest = await helm.get_manifest(release.name, release.namespace, target)
        result = await verify_release(
            kube,
            view,
            manifest,
            release.namespace,
            timeout_seconds=timeout or release.timeout_seconds,
            http_checks=release.http_checks,
        )
        return VerifyRow(rid, result.ok, result.reason or "healthy", round(result.seconds, 3))

    try:
        return list(await asyncio.gather(*(one(rid) for rid in ids)))
    finally:
        view.stop()


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
