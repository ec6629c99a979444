"""The engine's actions: Install, Upgrade, Unlock, Rollback, Uninstall, Verify — one small type each.

An action owns its whole step: the write-ahead record in the ledger (written before helm touches the
cluster, so a crash leaves a trace recovery can read), the helm call through the `HelmPort`, its
error handling (secrets masked out of helm's messages), and what it reports back by updating the
`ReleaseRun`. Install, Upgrade and Rollback leave their ledger action open; the Verify that follows
closes it, because a revision only counts as succeeded once it is healthy.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Protocol

from gripctl.adapters.helm import HistoryEntry, Values
from gripctl.adapters.retry import helm_transient
from gripctl.engine.events import Emitter, EventKind, Phase
from gripctl.engine.ports import ClusterPort, HelmPort
from gripctl.engine.release import Goal, ReleaseRun
from gripctl.engine.signals import PrometheusWatch
from gripctl.errors import ToolError
from gripctl.ledger.store import Ledger
from gripctl.ledger.types import ActionKind, ActionOutcome
from gripctl.model.types import Platform, Release
from gripctl.secrets.values import mask


@dataclass
class ActionContext:
    """What every action of one run uses: the platform, the record, the two ports, the event fan-out."""

    platform: Platform
    ledger: Ledger
    run_id: int
    helm: HelmPort
    cluster: ClusterPort
    emitter: Emitter
    # Called before every action: raises when the run no longer holds its environment lock (e.g. it
    # was stopped past the lease and another run took over), so it changes nothing more.
    guard: Callable[[], Awaitable[None]] = field(default=lambda: _held())

    def phase(self, rr: ReleaseRun, phase: Phase, message: str, **data: Any) -> None:
        """Move `rr` to `phase` and tell the sinks; an end other than healthy keeps its message as reason."""
        rr.phase = phase
        if phase in (Phase.failed, Phase.skipped, Phase.rolled_back, Phase.uninstalled):
            rr.reason = message  # a release's end state carries its story
        kind = EventKind.release_failed if phase is Phase.failed else EventKind.phase
        self.emitter.emit(kind, message, release_id=rr.id, phase=phase, **data)

    def note(self, rr: ReleaseRun, kind: EventKind, message: str, **data: Any) -> None:
        self.emitter.emit(kind, message, release_id=rr.id, **data)

    def begin(
        self,
        rr: ReleaseRun,
        kind: ActionKind,
        from_revision: int | None,
        chart_version: str | None = None,
        *,
        values_digest: str | None = None,
    ) -> int:
        """The write-ahead record of an action, before helm is called. An install or upgrade records the
        digest of the values it applies: a promotion later asks whether exactly those succeeded."""
        return self.ledger.begin_action(
            self.run_id, rr.id, kind, from_revision, chart_version, values_digest=values_digest
        )

    def finish(
        self, action_id: int, outcome: ActionOutcome, revision: int | None = None, error: str | None = None
    ) -> None:
        self.ledger.finish_action(action_id, outcome, revision, error)

    def close_open(self, rr: ReleaseRun, outcome: ActionOutcome, error: str | None = None) -> None:
        """Complete the action that Verify (or an unexpected error) ends, if one is open."""
        if rr.open_action is not None:
            # Until helm answered for it, the action made no revision anyone knows of.
            self.finish(rr.open_action, outcome, rr.revision if rr.open_made else None, error)
            rr.open_action, rr.open_made = None, False


async def _held() -> None:
    return None


def made_by(run_id: int) -> str:
    """The description of every revision a run makes (helm's `--description`): `helm history` names the
    run, and recovery tells which revisions a dead run made (`recover.made_revision`)."""
    return f"gripctl run {run_id}"


class Action(Protocol):
    """One step for one release. `run` records, acts and reports into `rr`; helm failures are handled
    inside (they are outcomes, not crashes), anything else propagates to the runner."""

    name: ClassVar[str]

    async def run(self, ctx: ActionContext, rr: ReleaseRun) -> None: ...


def helm_values(platform: Platform, release: Release, decrypted: bytes | None) -> Values:
    """The release's values for helm: its files (lowest first), decrypted secrets on stdin, --set."""
    files = [f if f.is_absolute() else platform.root / f for f in release.values_files]
    return Values(files=files, stdin_yaml=decrypted, set_values=dict(release.set_values))


def newest(entries: list[HistoryEntry]) -> int | None:
    return max((e.revision for e in entries), default=None)


def _fail(ctx: ActionContext, rr: ReleaseRun, message: str, **data: Any) -> None:
    rr.failure = rr.failure or message
    rr.failed_at = rr.failed_at or time.time()
    ctx.phase(rr, Phase.failed, message, **data)


@dataclass(frozen=True)
class _Apply:
    """`helm upgrade --install` of the planned chart and values."""

    kind: ClassVar[ActionKind]
    name: ClassVar[str]

    async def run(self, ctx: ActionContext, rr: ReleaseRun) -> None:
        release, plan = rr.release, rr.plan
        ctx.phase(
            rr, Phase.deploying, f"{self.kind.value} chart {plan.desired_chart_version}", reason=plan.reason
        )
        action_id = ctx.begin(
            rr, self.kind, rr.previous_good, plan.desired_chart_version, values_digest=plan.values_digest
        )
        rr.open_action, rr.open_made = action_id, False  # whatever escapes closes it (drive)
        chart = (
            release.chart_path if release.chart_path.is_absolute() else ctx.platform.root / release.chart_path
        )
        create_namespace = release.create_namespace and not await ctx.cluster.ensure_namespace(
            release.namespace
        )
        rr.changed = True
        deadline = time.monotonic() + release.timeout_seconds
        while True:
            try:
                applied = await ctx.helm.upgrade_install(
                    release,
                    chart,
                    helm_values(ctx.platform, release, rr.decrypted),
                    create_namespace=create_namespace,
                    description=made_by(ctx.run_id),
                )
                break
            except ToolError as exc:
                error = mask(exc.message, rr.secret_values)
                entries = await ctx.helm.history(release)  # rides through the outage itself
                latest = max(entries, key=lambda e: e.revision) if entries else None
                before, made = rr.revision, latest.revision if latest else None
                made_revision = made is not None and (before is None or made > before)
                cut_off = helm_transient(exc.message)  # the API server went away under helm
                if cut_off and not made_revision and time.monotonic() < deadline:
                    ctx.note(
                        rr,
                        EventKind.note,
                        f"helm could not reach the cluster, nothing changed: retrying ({error[:160]})",
                    )
                    await asyncio.sleep(1.0)
                    continue
                ctx.finish(action_id, ActionOutcome.failed, made if made_revision else None, error)
                rr.open_action = None
                if not made_revision:  # a render error or a rejected object: the cluster is as it was
                    rr.changed = False
                    _fail(ctx, rr, f"helm {self.kind.value} failed, nothing changed: {error}")
                    return
                if cut_off and latest is not None and latest.status.startswith("pending-"):
                    # Cut off half-way: helm could not even record the outcome. Unlock it (back to the
                    # revision before, or uninstalled), then the next step applies it again.
                    rr.revision, rr.locked = made, True
                    rr.plan = replace(rr.plan, helm_status=latest.status)
                    ctx.note(
                        rr,
                        EventKind.note,
                        f"helm {self.kind.value} was cut off by the cluster going away: revision {made} "
                        f"is {latest.status}; unlocking it, then applying again",
                    )
                    return
                rr.revision, rr.applied, rr.verified = made, True, False
                _fail(ctx, rr, f"helm {self.kind.value} failed: {error}")
                return
        rr.revision, rr.manifest, rr.applied, rr.verified = applied.revision, applied.manifest, True, None
        rr.open_made = True  # Verify closes the action with this revision
        ctx.phase(rr, Phase.verifying, f"revision {rr.revision} applied; verifying", revision=rr.revision)


@dataclass(frozen=True)
class Install(_Apply):
    kind = ActionKind.install
    name = "install"


@dataclass(frozen=True)
class Upgrade(_Apply):
    kind = ActionKind.upgrade
    name = "upgrade"


@dataclass(frozen=True)
class Verify:
    """Watch the release's current revision until healthy, failed or timed out, then the monitoring window."""

    monitor_seconds: float = 0.0
    name: ClassVar[str] = "verify"

    async def run(self, ctx: ActionContext, rr: ReleaseRun) -> None:
        release = rr.release

        def on_phase(phase: str, message: str) -> None:
            if phase == "monitoring":
                ctx.phase(rr, Phase.monitoring, message)
            else:  # rollout progress: shown live, not a phase change
                ctx.note(rr, EventKind.note, message, phase=Phase.verifying)

        result = await ctx.cluster.verify(
            rr.manifest,
            release.namespace,
            timeout_seconds=release.timeout_seconds,
            monitor_seconds=self.monitor_seconds,
            http_checks=release.http_checks,
            signals=_signals(ctx, rr),
            on_phase=on_phase,
        )
        rr.verified = result.ok
        restoring = rr.restored or rr.goal is Goal.revision
        if result.ok:
            ctx.close_open(rr, ActionOutcome.succeeded)
            if rr.goal is Goal.check and not restoring:
                ctx.note(rr, EventKind.note, f"revision {rr.revision} was deployed and is healthy")
            elif restoring:
                back_to = rr.target_revision if rr.goal is Goal.revision else rr.previous_good
                msg = f"rolled back to revision {back_to} (as revision {rr.revision}), healthy"
                if rr.failure:
                    msg += f"; it had failed: {rr.failure}"
                ctx.phase(rr, Phase.rolled_back, msg)
            else:
                ctx.phase(
                    rr, Phase.healthy, f"healthy in {result.seconds:.1f}s", seconds=round(result.seconds, 3)
                )
            return
        ctx.close_open(rr, ActionOutcome.failed, result.reason)
        rr.failed_at = result.failed_at or time.time()
        if restoring and rr.goal is not Goal.revision:
            rr.gave_up = True
            why = f"{rr.failure}; after rollback to revision {rr.previous_good}: {result.reason}"
            ctx.phase(rr, Phase.failed, why if rr.failure else result.reason)
            return
        if rr.goal is Goal.check:
            rr.failure = f"revision {rr.revision} was unhealthy ({result.reason})"
            ctx.note(rr, EventKind.note, rr.failure)
            return
        _fail(ctx, rr, result.reason, revision=rr.revision, failed_at=rr.failed_at)


def _signals(ctx: ActionContext, rr: ReleaseRun) -> PrometheusWatch | None:
    """The release's Prometheus queries, when it has any and its environment names a Prometheus."""
    settings = ctx.platform.environment.prometheus
    if settings is None or not rr.release.prometheus_checks:
        return None
    return PrometheusWatch(
        settings,
        rr.release.prometheus_checks,
        warn=lambda message: ctx.note(rr, EventKind.note, message),  # recorded: a check was skipped
    )


def _start_remediation(ctx: ActionContext, rr: ReleaseRun) -> None:
    """The first remediation step of a failed release: say so, with how long detection took."""
    if rr.failure is None or rr.remediation_started is not None or rr.goal is not Goal.deploy:
        return
    rr.remediation_started = time.time()
    ctx.note(
        rr,
        EventKind.remediation,
        "remediation started",
        phase=Phase.rolling_back,
        detect_to_remediation_seconds=round(
            rr.remediation_started - (rr.failed_at or rr.remediation_started), 3
        ),
    )


@dataclass(frozen=True)
class Rollback:
    """`helm rollback` to a revision: remediation, a restore, or a person's `gripctl rollback`."""

    to: int
    name: ClassVar[str] = "rollback"

    async def run(self, ctx: ActionContext, rr: ReleaseRun) -> None:
        release = rr.release
        _start_remediation(ctx, rr)
        manual = rr.goal is Goal.revision
        rr.phase = Phase.rolling_back
        if manual:
            ctx.phase(rr, Phase.rolling_back, f"rolling back to revision {self.to}")
        action_id = ctx.begin(rr, ActionKind.rollback, rr.revision, None)
        rr.open_action, rr.open_made = action_id, False  # whatever escapes closes it (drive)
        try:
            await ctx.helm.rollback(release, self.to, description=made_by(ctx.run_id))
            made = newest(await ctx.helm.history(release))
            manifest = await ctx.helm.manifest(release, made) if made is not None else ""
        except ToolError as exc:
            error = mask(exc.message, rr.secret_values)
            ctx.finish(action_id, ActionOutcome.failed, error=error)
            rr.open_action = None
            rr.gave_up = True
            prefix = f"{rr.failure}; " if rr.failure else ""
            ctx.phase(rr, Phase.failed, f"{prefix}rollback to revision {self.to} failed: {error}")
            return
        rr.revision, rr.manifest, rr.verified, rr.changed = made, manifest, None, True
        rr.open_made = True  # Verify closes the action with this revision
        if manual:
            rr.applied = True
            ctx.phase(rr, Phase.verifying, f"revision {made} applied; verifying")
        else:
            rr.restored = True
            ctx.note(
                rr,
                EventKind.remediation,
                f"rolled back to revision {self.to}; verifying",
                phase=Phase.rolling_back,
            )


@dataclass(frozen=True)
class Uninstall:
    """`helm uninstall`: how a failed first install (or one left by an interrupted run) is undone."""

    name: ClassVar[str] = "uninstall"

    async def run(self, ctx: ActionContext, rr: ReleaseRun) -> None:
        _start_remediation(ctx, rr)
        rr.phase = Phase.rolling_back
        action_id = ctx.begin(rr, ActionKind.uninstall, rr.revision, None)
        rr.open_action, rr.open_made = action_id, False  # whatever escapes closes it (drive)
        try:
            await ctx.helm.uninstall(rr.release)
        except ToolError as exc:
            error = mask(exc.message, rr.secret_values)
            ctx.finish(action_id, ActionOutcome.failed, error=error)
            rr.open_action = None
            rr.gave_up = True
            prefix = f"{rr.failure}; " if rr.failure else ""
            ctx.phase(rr, Phase.failed, f"{prefix}uninstall failed too: {error}")
            return
        ctx.finish(action_id, ActionOutcome.succeeded)
        rr.open_action = None
        rr.uninstalled, rr.changed, rr.revision, rr.verified = True, True, None, None
        if rr.goal is Goal.check:
            ctx.note(rr, EventKind.note, f"{rr.failure}; uninstalled" if rr.failure else "uninstalled")
            return
        why = f"uninstalled (first install failed: {rr.failure})" if rr.failure else "uninstalled"
        ctx.phase(rr, Phase.uninstalled, why)


@dataclass(frozen=True)
class Unlock:
    """A release a dead helm left `pending-*`: back to the last good revision, or uninstalled when it
    never ran. helm refuses every other operation on it until this is done."""

    name: ClassVar[str] = "unlock"

    async def run(self, ctx: ActionContext, rr: ReleaseRun) -> None:
        release = rr.release
        status = rr.plan.helm_status or rr.plan.status.value
        ctx.phase(rr, Phase.unlocking, f"release is {status}: unlocking")
        action_id = ctx.begin(rr, ActionKind.unlock, None, None)
        rr.open_action, rr.open_made = action_id, False  # whatever escapes closes it (drive)
        try:
            if rr.previous_good is None:
                await ctx.helm.uninstall(release)
                done = "uninstalled (its first install never completed)"
                rr.revision = None
            else:
                await ctx.helm.rollback(release, rr.previous_good, description=made_by(ctx.run_id))
                done = f"rolled back to revision {rr.previous_good}"
                rr.revision = newest(await ctx.helm.history(release))
        except ToolError as exc:
            error = mask(exc.message, rr.secret_values)
            ctx.finish(action_id, ActionOutcome.failed, error=error)
            rr.open_action = None
            rr.gave_up = True
            _fail(ctx, rr, f"unlocking the {status} release failed: {error}")
            return
        ctx.finish(action_id, ActionOutcome.succeeded, rr.revision)
        rr.open_action = None
        rr.locked, rr.changed = False, True
        if rr.goal is Goal.check:  # an interrupted run's stuck release, now at its last good revision
            rr.restored = rr.previous_good is not None
            rr.uninstalled = rr.previous_good is None
        ctx.note(rr, EventKind.note, done)
