"""Executes a Plan: releases in dependency order, independent branches at once, each verified.

A release starts when every release it needs (within the plan) is deployed *and verified healthy*.
Per release, in Flux helm-controller's spirit, one small step at a time: unlock a stuck release,
write the action ahead to the ledger, `helm upgrade --install`, verify by watching, watch the
monitoring window; on failure remediate by the release's policy (rollback / uninstall / none). After
a failure nothing new starts (`halt`), or every release this run changed is rolled back too
(`rollback-run`). Every step is an EngineEvent for the sinks (progress, ledger, incidents, ...).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gripctl.adapters import helm
from gripctl.adapters.helm import KubeTarget, Values
from gripctl.adapters.kube import Kube
from gripctl.engine.events import Emitter, EventKind, Phase
from gripctl.engine.options import OnFailure as OnFailure  # re-exported for the engine's callers
from gripctl.engine.verify import ClusterView, VerifyResult, verify_release
from gripctl.errors import GripError, ToolError
from gripctl.ledger.store import Ledger
from gripctl.ledger.types import ActionKind, ActionOutcome, RunOutcome
from gripctl.model.types import Platform, Release, Remediation
from gripctl.plan.types import Action, Plan, ReleasePlan, ReleaseStatus
from gripctl.secrets.values import merged_values, secret_leaves  # the secrets room owns decryption


@dataclass(frozen=True)
class RunOptions:
    concurrency: int = 4
    on_failure: OnFailure = OnFailure.halt
    monitor_seconds: float | None = None  # None: the environment's monitor window


@dataclass
class ReleaseRun:
    """One release's progress through a run."""

    plan: ReleasePlan
    phase: Phase = Phase.pending
    reason: str = ""
    started: float | None = None
    finished: float | None = None
    previous_good: int | None = None  # the revision that ran before this run: the rollback target
    to_revision: int | None = None
    changed: bool = False  # helm made a revision in this run
    failed_at: float | None = None
    remediation_started: float | None = None

    @property
    def id(self) -> str:
        return self.plan.release_id

    @property
    def first_install(self) -> bool:
        return self.previous_good is None


@dataclass
class RunResult:
    run_id: int
    outcome: RunOutcome
    releases: dict[str, ReleaseRun] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def failed(self) -> list[ReleaseRun]:
        return [r for r in self.releases.values() if r.phase is Phase.failed]

    def summary(self) -> str:
        counts: dict[str, int] = {}
        for r in self.releases.values():
            counts[r.phase.value] = counts.get(r.phase.value, 0) + 1
        return ", ".join(f"{n} {p}" for p, n in sorted(counts.items()))


def mask(text: str, secrets: frozenset[str]) -> str:
    for value in sorted(secrets, key=len, reverse=True):
        if value:
            text = text.replace(value, "***")
    return text


def helm_values(platform: Platform, release: Release, decrypted: bytes | None) -> Values:
    files = [f if f.is_absolute() else platform.root / f for f in release.values_files]
    return Values(files=files, stdin_yaml=decrypted, set_values=dict(release.set_values))


def last_good_revision(entries: list[helm.HistoryEntry], before: int | None = None) -> int | None:
    """The newest revision that ran successfully (deployed, or superseded by a later one)."""
    good = [
        e.revision
        for e in entries
        if e.status in ("deployed", "superseded") and (before is None or e.revision < before)
    ]
    return max(good) if good else None


class Namespaces:
    """Release namespaces, created through the API once per run, as helm would (label `name`).

    helm's --create-namespace validates that one object against the cluster's OpenAPI document, ~50 ms
    of CPU per install. When this fails (e.g. no right to read namespaces), `ensure` says False and
    helm is asked to create the namespace itself, with its own error if it cannot either.
    """

    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        self._done: dict[str, asyncio.Future[bool]] = {}

    async def ensure(self, namespace: str) -> bool:
        if namespace not in self._done:  # concurrent releases in one namespace share one attempt
            self._done[namespace] = asyncio.ensure_future(asyncio.to_thread(self._create, namespace))
        return await self._done[namespace]

    def _create(self, namespace: str) -> bool:
        try:
            self.kube.ensure_namespace(namespace, labels={"name": namespace})
        except Exception:  # helm's --create-namespace is the fallback, with its own error
            return False
        return True


class Runner:
    def __init__(
        self,
        platform: Platform,
        plan: Plan,
        *,
        ledger: Ledger,
        kube: Kube,
        view: ClusterView,
        target: KubeTarget,
        run_id: int,
        emitter: Emitter,
        options: RunOptions,
        secrets: Mapping[str, bytes] | None = None,
    ) -> None:
        self.platform, self.plan, self.ledger = platform, plan, ledger
        self.secrets = secrets or {}  # decrypted while planning: what the plan was computed with
        self.namespaces = Namespaces(kube)
        self.kube, self.view, self.target = kube, view, target
        self.run_id, self.emitter, self.options = run_id, emitter, options
        self.runs: dict[str, ReleaseRun] = {rp.release_id: ReleaseRun(rp) for rp in plan.releases}
        ids = set(self.runs)
        self.deps = {rp.release_id: [n for n in rp.needs if n in ids] for rp in plan.releases}
        self.monitor = (
            options.monitor_seconds
            if options.monitor_seconds is not None
            else platform.environment.monitor_seconds
        )
        self._priority = self._longest_chains()

    # -- events ------------------------------------------------------------------------------------

    def _phase(self, rr: ReleaseRun, phase: Phase, message: str, **data: Any) -> None:
        rr.phase = phase
        rr.reason = message if phase in (Phase.failed, Phase.skipped) else rr.reason
        kind = EventKind.release_failed if phase is Phase.failed else EventKind.phase
        self.emitter.emit(kind, message, release_id=rr.id, phase=phase, **data)

    # -- scheduling --------------------------------------------------------------------------------

    def _longest_chains(self) -> dict[str, int]:
        """Releases with the longest chain of dependents go first: that is what bounds the run."""
        dependents: dict[str, list[str]] = {rid: [] for rid in self.runs}
        for rid, deps in self.deps.items():
            for d in deps:
                dependents[d].append(rid)
        memo: dict[str, int] = {}

        def depth(rid: str) -> int:
            if rid not in memo:
                memo[rid] = 1 + max((depth(d) for d in dependents[rid]), default=0)
            return memo[rid]

        return {rid: depth(rid) for rid in self.runs}

    async def run(self) -> RunResult:
        started = time.monotonic()
        order = {rp.release_id: i for i, rp in enumerate(self.plan.releases)}
        pending = list(self.runs)
        running: dict[asyncio.Task[None], str] = {}
        halted_by: str | None = None
        while pending or running:
            progressed = True
            while progressed:  # resolve skips and no-ops, which can unblock each other
                progressed = False
                for rid in list(pending):
                    rr, deps = self.runs[rid], [self.runs[d] for d in self.deps[rid]]
                    bad = [d for d in deps if d.phase.done and not d.phase.ok]
                    if bad:
                        self._phase(
                            rr, Phase.skipped, f"skipped: needs {bad[0].id}, which {bad[0].phase.value}"
                        )
                    elif halted_by is not None:
                        self._phase(rr, Phase.skipped, f"skipped: the run halted after {halted_by} failed")
                    elif rr.plan.action is Action.noop and all(d.phase.ok for d in deps):
                        self._phase(rr, Phase.unchanged, "in sync: nothing to do")
                    else:
                        continue
                    pending.remove(rid)
                    progressed = True
            ready = [rid for rid in pending if all(self.runs[d].phase.ok for d in self.deps[rid])]
            ready.sort(key=lambda rid: (-self._priority[rid], order[rid]))
            for rid in ready:
                if len(running) >= max(1, self.options.concurrency):
                    break
                pending.remove(rid)
                running[asyncio.create_task(self._guarded(self.runs[rid]))] = rid
            if not running:
                break
            done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                rid = running.pop(task)
                if self.runs[rid].phase is Phase.failed or not self.runs[rid].phase.ok:
                    halted_by = halted_by or rid
        for rid in pending:  # unreachable in a well-formed plan; never leave a release undecided
            self._phase(self.runs[rid], Phase.skipped, "skipped: its needs never completed")
        if halted_by is not None and self.options.on_failure is OnFailure.rollback_run:
            await self._rollback_run()
        return RunResult(self.run_id, self._outcome(), self.runs, time.monotonic() - started)

    def _outcome(self) -> RunOutcome:
        phases = {r.phase for r in self.runs.values()}
        if Phase.failed in phases:
            return RunOutcome.failed
        if phases & {Phase.rolled_back, Phase.uninstalled, Phase.skipped}:
            return RunOutcome.rolled_back
        return RunOutcome.succeeded

    async def _guarded(self, rr: ReleaseRun) -> None:
        """One release; any unexpected error fails that release, not the whole run."""
        try:
            await self._release(rr)
        except GripError as exc:
            rr.failed_at = rr.failed_at or time.time()
            self._phase(rr, Phase.failed, exc.message)
        except Exception as exc:  # a bug, but other branches keep their chance to finish cleanly
            rr.failed_at = rr.failed_at or time.time()
            self._phase(rr, Phase.failed, f"internal error: {type(exc).__name__}: {exc}")
        finally:
            rr.finished = time.time()

    # -- one release -------------------------------------------------------------------------------

    async def _history(self, release: Release) -> list[helm.HistoryEntry]:
        return await helm.history(release.name, release.namespace, self.target, max_entries=50)

    async def _release(self, rr: ReleaseRun) -> None:
        rp = rr.plan
        release = self.platform.release(rp.release_id)
        rr.started = time.time()
        if rp.status is ReleaseStatus.deployed and rp.live_revision is not None:
            rr.previous_good = rp.live_revision
        elif rp.status is not ReleaseStatus.absent:
            rr.previous_good = rp.deployed_revision or last_good_revision(await self._history(release))
        if rp.action is Action.unlock:
            await self._unlock(rr, release)
        decrypted = self.secrets.get(rr.id)
        if decrypted is None:
            decrypted = await asyncio.to_thread(merged_values, release.secrets, self.platform.root)
        secrets: frozenset[str] = frozenset()
        if decrypted is not None:
            secrets = frozenset(secret_leaves(decrypted))
        kind = ActionKind.install if rr.first_install else ActionKind.upgrade
        self._phase(rr, Phase.deploying, f"{kind.value} chart {rp.desired_chart_version}", reason=rp.reason)
        action_id = self.ledger.begin_action(
            self.run_id, rr.id, kind, rr.previous_good, rp.desired_chart_version
        )  # write-ahead: recorded before helm touches the cluster
        chart = (
            release.chart_path
            if release.chart_path.is_absolute()
            else self.platform.root / release.chart_path
        )
        rr.changed = True
        create_namespace = release.create_namespace and not await self.namespaces.ensure(release.namespace)
        try:
            record = await helm.upgrade_install_release(
                release.name,
                chart,
                release.namespace,
                helm_values(self.platform, release, decrypted),
                self.target,
                timeout_seconds=release.timeout_seconds,
                create_namespace=create_namespace,
                description=f"gripctl run {self.run_id}",
            )
        except ToolError as exc:
            error = mask(exc.message, secrets)
            entries = await self._history(release)
            newest = max((e.revision for e in entries), default=None)
            made_revision = newest is not None and (rp.live_revision is None or newest > rp.live_revision)
            self.ledger.finish_action(
                action_id, ActionOutcome.failed, newest if made_revision else None, error
            )
            rr.failed_at = time.time()
            if not made_revision:
                rr.changed = False  # helm failed before changing anything (render error, rejected object)
                self._phase(rr, Phase.failed, f"helm {kind.value} failed, nothing changed: {error}")
                return
            self._phase(rr, Phase.failed, f"helm {kind.value} failed: {error}")
            await self._remediate(rr, release)
            return
        rr.to_revision = int(record.get("version") or 0) or None
        self._phase(
            rr, Phase.verifying, f"revision {rr.to_revision} applied; verifying", revision=rr.to_revision
        )
        result = await self._verify(rr, release, str(record.get("manifest") or ""), self.monitor)
        if result.ok:
            self.ledger.finish_action(action_id, ActionOutcome.succeeded, rr.to_revision)
            self._phase(
                rr, Phase.healthy, f"healthy in {result.seconds:.1f}s", seconds=round(result.seconds, 3)
            )
            return
        rr.failed_at = result.failed_at or time.time()
        self.ledger.finish_action(action_id, ActionOutcome.failed, rr.to_revision, result.reason)
        self._phase(rr, Phase.failed, result.reason, revision=rr.to_revision, failed_at=rr.failed_at)
        await self._remediate(rr, release)

    async def _verify(self, rr: ReleaseRun, release: Release, manifest: str, monitor: float) -> VerifyResult:
        def on_phase(phase: str, message: str) -> None:
            if phase == "monitoring":
                self._phase(rr, Phase.monitoring, message)
            else:  # progress detail: not a phase change, but shown and recorded
                self.emitter.emit(EventKind.note, message, release_id=rr.id, phase=Phase.verifying)

        return await verify_release(
            self.kube,
            self.view,
            manifest,
            release.namespace,
            timeout_seconds=release.timeout_seconds,
            monitor_seconds=monitor,
            http_checks=release.http_checks,
            on_phase=on_phase,
        )

    async def _unlock(self, rr: ReleaseRun, release: Release) -> None:
        """A pending-* release (an interrupted helm operation): back to its last deployed revision."""
        self._phase(rr, Phase.unlocking, f"release is {rr.plan.status.value}: unlocking")
        await unlock_release(self.ledger, self.run_id, release, self.target, rr.previous_good)

    # -- remediation -------------------------------------------------------------------------------

    async def _remediate(self, rr: ReleaseRun, release: Release) -> None:
        policy = release.remediation
        if policy is Remediation.none:
            self.emitter.emit(
                EventKind.remediation, "remediation: none (release left as is)", release_id=rr.id
            )
            return
        rr.remediation_started = time.time()
        self.emitter.emit(
            EventKind.remediation,
            "remediation started",
            release_id=rr.id,
            phase=Phase.rolling_back,
            detect_to_remediation_seconds=round(
                rr.remediation_started - (rr.failed_at or rr.remediation_started), 3
            ),
        )
        await self._restore(rr, release, keep_failed_reason=True)

    async def _restore(self, rr: ReleaseRun, release: Release, *, keep_failed_reason: bool) -> None:
        """Put the release back as it was before this run: rollback, or uninstall a first install."""
        reason = rr.reason
        rr.phase = Phase.rolling_back
        if rr.first_install:
            action_id = self.ledger.begin_action(
                self.run_id, rr.id, ActionKind.uninstall, rr.to_revision, None
            )
            try:
                await helm.uninstall(
                    release.name, release.namespace, self.target, timeout_seconds=release.timeout_seconds
                )
            except ToolError as exc:
                self.ledger.finish_action(action_id, ActionOutcome.failed, error=exc.message)
                self._phase(rr, Phase.failed, f"{reason}; uninstall failed too: {exc.message}")
                return
            self.ledger.finish_action(action_id, ActionOutcome.succeeded)
            self._phase(
                rr,
                Phase.uninstalled,
                f"uninstalled (first install failed: {reason})" if keep_failed_reason else "uninstalled",
            )
            return
        target_rev = rr.previous_good
        action_id = self.ledger.begin_action(self.run_id, rr.id, ActionKind.rollback, rr.to_revision, None)
        try:
            await helm.rollback(
                release.name,
                release.namespace,
                self.target,
                revision=target_rev,
                timeout_seconds=release.timeout_seconds,
            )
            entries = await self._history(release)
            new_rev = max(e.revision for e in entries)
            manifest = await helm.get_manifest(release.name, release.namespace, self.target, revision=new_rev)
        except ToolError as exc:
            self.ledger.finish_action(action_id, ActionOutcome.failed, error=exc.message)
            self._phase(
                rr, Phase.failed, f"{reason}; rollback to revision {target_rev} failed: {exc.message}"
            )
            return
        self.emitter.emit(
            EventKind.remediation,
            f"rolled back to revision {target_rev}; verifying",
            release_id=rr.id,
            phase=Phase.rolling_back,
        )
        result = await self._verify(rr, release, manifest, 0.0)
        if not result.ok:
            self.ledger.finish_action(action_id, ActionOutcome.failed, new_rev, result.reason)
            self._phase(
                rr, Phase.failed, f"{reason}; after rollback to revision {target_rev}: {result.reason}"
            )
            return
        self.ledger.finish_action(action_id, ActionOutcome.succeeded, new_rev)
        rr.to_revision = new_rev
        msg = f"rolled back to revision {target_rev} (as revision {new_rev}), healthy"
        self._phase(
            rr, Phase.rolled_back, f"{msg}; it had failed: {reason}" if keep_failed_reason and reason else msg
        )

    async def _rollback_run(self) -> None:
        """--on-failure rollback-run: every release this run changed, in reverse dependency order."""
        changed = [
            r
            for r in reversed(list(self.runs.values()))
            if r.changed and r.phase in (Phase.healthy, Phase.failed)
        ]
        if not changed:
            return
        self.emitter.emit(EventKind.remediation, f"rolling back the run: {', '.join(r.id for r in changed)}")
        for rr in changed:
            release = self.platform.release(rr.id)
            rr.reason = rr.reason or "rolled back with the run"
            await self._restore(rr, release, keep_failed_reason=rr.phase is Phase.failed)


async def unlock_release(
    ledger: Ledger, run_id: int, release: Release, target: KubeTarget, previous_good: int | None
) -> str:
    """Roll a pending-* release back to its last deployed revision (uninstall when it never deployed)."""
    if previous_good is None:
        action_id = ledger.begin_action(run_id, release.id, ActionKind.unlock, None, None)
        await helm.uninstall(release.name, release.namespace, target, timeout_seconds=release.timeout_seconds)
        ledger.finish_action(action_id, ActionOutcome.succeeded)
        return "uninstalled (its first install never completed)"
    action_id = ledger.begin_action(run_id, release.id, ActionKind.unlock, None, None)
    try:
        await helm.rollback(
            release.name,
            release.namespace,
            target,
            revision=previous_good,
            timeout_seconds=release.timeout_seconds,
        )
    except ToolError as exc:
        ledger.finish_action(action_id, ActionOutcome.failed, error=exc.message)
        raise
    ledger.finish_action(action_id, ActionOutcome.succeeded, previous_good)
    return f"rolled back to revision {previous_good}"
