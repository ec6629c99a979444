"""Operations that change the cluster: deploy (and apply), rollback, recover, unlock.

`deploy` is plan + gate + approve + run, ordered so that every refusal happens before anything
changes: load the platform → open the ledger → reach the cluster → plan (read-only, while the
cluster watches start) → the pre-deployment checks → start the run → lock the environment → recover
interrupted runs (re-plan if that changed anything) → refuse releases another helm is operating on →
approval → run the releases. The others run their actions through the same run lifecycle.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from gripctl.engine.approvals import SignedDecision, require_approval, sign_decision
from gripctl.engine.events import EventKind, EventSink
from gripctl.engine.lifecycle import recorded_run
from gripctl.engine.options import OnFailure
from gripctl.engine.recover import last_good_revision, recover_interrupted
from gripctl.engine.release import Goal, from_plan, standalone
from gripctl.engine.runner import Runner, RunOptions, RunResult, drive
from gripctl.engine.verify import ClusterView
from gripctl.errors import ApprovalError, LockedError, PolicyError, UsageError, ValidationError
from gripctl.identity import actor
from gripctl.ledger.git import commits_since
from gripctl.ledger.store import Ledger
from gripctl.ledger.types import CommitInfo, PlanRecord, RunKind, RunOutcome
from gripctl.model.selection import Selection
from gripctl.model.types import Approval, Platform
from gripctl.observe.release import observe_release
from gripctl.observe.snapshot import snapshot
from gripctl.observe.types import ReleaseStatus, Snapshot
from gripctl.plan.compute import LockFacts, decide
from gripctl.plan.digest import check_fresh
from gripctl.plan.promotion import Unpromoted
from gripctl.plan.serialize import plan_to_dict
from gripctl.plan.types import Action, Plan
from gripctl.service.approvals import request_approval
from gripctl.service.plan import decide_plan
from gripctl.service.promotion import override_note, unproven
from gripctl.service.promotion import refusal as promotion_refusal
from gripctl.service.workspace import ledger_of, load, selected
from gripctl.service.world import Cluster, reach, sink_factories, world


@dataclass
class DeployRequest:
    """Everything a deploy (or `apply` of a saved plan) is asked to do; the CLI and the API build one."""

    root: Path
    environment: str | None = None
    selection: Selection = field(default_factory=Selection)
    concurrency: int | None = None  # None: the environment's
    serial: bool = False
    on_failure: OnFailure = OnFailure.halt
    wait_lock: float = 0.0
    monitor_seconds: float | None = None  # None: the environment's window
    skip_validation: bool = False  # bypass the pre-deployment checks (recorded in the run)
    reapply: Mapping[str, str] = field(default_factory=dict)  # release id -> why upgrade it though in sync
    automatic: bool = False  # the automatic entry (`deploy --auto`, CI on push): only `deploy: auto` envs
    force_promotion: bool = False  # deploy what `promote_from` has not proven (recorded in the run)
    actor: str = field(default_factory=actor)
    saved_plan: Plan | None = None  # `gripctl apply plan.json`: run exactly this plan, or refuse
    confirm: Callable[[str], bool] | None = None  # interactive approval prompt (a TTY), else None
    sinks: Sequence[EventSink] = ()  # the face's progress renderers
    on_plan: Callable[[Platform, Plan], None] | None = None  # called once the plan is known
    signing_key: Path | None = None  # the operator's SSH key, to sign an approval at the terminal
    # How the run is recorded: `deploy`, or `apply` for a saved plan. The server runs exactly the plan
    # it asked approval for, yet what it does is a deploy (and DORA counts deploys): it says so here.
    run_kind: RunKind | None = None
    source: str = "cli"  # where the request came from, for the audit log: "cli" or a client address


@dataclass
class Deployment:
    """What a deploy did. `plan` and `result` are None only when `--changed-since` found nothing to
    deploy: then no run was started (`nothing` says why)."""

    platform: Platform
    plan: Plan | None
    result: RunResult | None
    approver: str | None = None
    recovered: list[str] = field(default_factory=list)
    nothing: str | None = None

    def to_dict(self) -> dict[str, Any]:
        r = self.result
        if r is None or self.plan is None:
            return {"run_id": None, "plan": None, "outcome": "nothing-to-do", "reason": self.nothing}
        return {
            "run_id": r.run_id,
            "plan": self.plan.id,
            "outcome": r.outcome.value,
            "seconds": round(r.seconds, 3),
            "approver": self.approver,
            "recovered": self.recovered,
            "releases": {
                rr.id: {"phase": rr.phase.value, "reason": rr.reason, "revision": rr.revision}
                for rr in r.releases.values()
            },
        }


def _commits(ledger: Ledger, platform: Platform, head: str | None) -> Callable[[], list[CommitInfo]]:
    """The commits a run ships (since the environment's last successful deploy), for lead time."""

    def listed() -> list[CommitInfo]:
        if not head:
            return []
        return commits_since(platform.root, ledger.last_deployed_commit(platform.environment.name), head)

    return listed


async def _observe(platform: Platform, ids: list[str], cluster: Cluster) -> Snapshot:
    return await snapshot(
        platform,
        ids,
        cluster.target,
        concurrency=platform.environment.concurrency,
        kube_version=cluster.version,
    )


async def _gate(platform: Platform, snap: Snapshot, ids: list[str]) -> None:
    """The error-level pre-deployment checks on what the plan rendered; refuse with the findings."""
    from gripctl.validate.gate import predeploy_findings

    findings = await predeploy_findings(platform, snap, ids)
    if findings:
        lines = "\n".join(f"  {f.location or f.release}: [{f.check}] {f.message}" for f in findings[:20])
        more = f"\n  ... and {len(findings) - 20} more" if len(findings) > 20 else ""
        raise ValidationError(
            f"{len(findings)} pre-deployment check(s) failed; nothing was changed:\n{lines}{more}",
            hint=f"fix them (`gripctl validate -e {platform.environment.name}` shows all), or deploy "
            "anyway with --skip-validation (recorded in the ledger)",
        )


def _refuse_automatic(platform: Platform) -> None:
    """`deploy: manual` means a person deploys it: the automatic entry stops before anything else."""
    env = platform.environment
    if env.deploy == "auto":
        return
    raise PolicyError(
        f"environment {env.name} is `deploy: {env.deploy}`: the automatic entry (`gripctl deploy --auto`, "
        "the push workflow) does not deploy it; nothing was changed",
        location=platform.locations.get(f"environments.{env.name}.deploy")
        or platform.locations.get(f"environments.{env.name}"),
        hint=f"a person deploys it: `gripctl deploy -e {env.name}` (or the manual workflow); "
        "or set `deploy: auto` for it in gripctl.yaml",
    )


def _promotion(
    req: DeployRequest, platform: Platform, snap: Snapshot, plan: Plan, ledger: Ledger
) -> list[Unpromoted]:
    """What `promote_from` has not proven: a refusal, or (with --force-promotion) what to record."""
    missing = unproven(platform, snap, plan, ledger)
    if missing and not req.force_promotion:
        raise promotion_refusal(platform, missing)
    return missing


async def deploy(req: DeployRequest) -> Deployment:
    platform = load(req.root, req.environment)
    env = platform.environment
    if req.automatic:
        _refuse_automatic(platform)
    if req.saved_plan is not None:
        if req.saved_plan.environment != env.name:
            raise UsageError(
                f"the plan is for environment {req.saved_plan.environment!r}, not {env.name!r}",
                hint=f"run `gripctl apply PLAN -e {req.saved_plan.environment}`",
            )
        ids = [rp.release_id for rp in req.saved_plan.releases]
        for rid in ids:
            platform.release(rid)  # a plan naming a release the repository no longer has: UsageError
    else:
        ids = selected(platform, req.selection)
        if not ids:  # only --changed-since selects nothing without an error: no run, nothing recorded
            why = f"nothing changed since {req.selection.changed_since}: no release to deploy"
            return Deployment(platform, None, None, nothing=why)
    ledger = ledger_of(platform)
    cluster = await reach(platform)
    view = ClusterView(cluster.kube)  # the watches start while the plan is computed
    try:
        _, snap = await asyncio.gather(view.start(), _observe(platform, ids, cluster))
        if not req.skip_validation:
            await _gate(platform, snap, ids)
        plan = decide_plan(platform, snap, ids, ledger, req.reapply)
        if req.saved_plan is not None:
            check_fresh(req.saved_plan, plan)
        forced = _promotion(req, platform, snap, plan, ledger)
    except BaseException:
        view.stop()
        raise
    if req.on_plan is not None:
        req.on_plan(platform, plan)
    kind = req.run_kind or (RunKind.apply if req.saved_plan is not None else RunKind.deploy)
    async with recorded_run(
        world(platform, ledger, cluster),
        kind,
        req.actor,
        title=f"{kind.value} to {env.name}: plan {plan.id}",
        sinks=req.sinks,
        sink_factories=sink_factories(),
        wait_lock=req.wait_lock,
        git_commit=plan.git_commit,
        plan_digest=plan.digest,
        commits=_commits(ledger, platform, plan.git_commit),
        view=view,
        data={"plan": plan.id, "releases": ids},
    ) as run:
        ledger.record_audit(
            req.actor, req.source, "deploy", plan.digest,
            {"run": run.run_id, "environment": env.name, "kind": kind.value, "plan": plan.id},
        )  # fmt: skip
        if req.skip_validation:
            run.emitter.emit(
                EventKind.note, f"pre-deployment checks skipped by {req.actor} (--skip-validation)"
            )
        recovered = await recover_interrupted(run, ledger, platform)
        if any(": " in line for line in recovered):  # a release was touched: look again
            snap = await _observe(platform, ids, cluster)
            plan = decide_plan(platform, snap, ids, ledger, req.reapply)
            run.emitter.emit(EventKind.note, f"re-planned after recovery: plan {plan.id}", plan=plan.id)
            if req.saved_plan is not None:
                check_fresh(req.saved_plan, plan)
            forced = _promotion(req, platform, snap, plan, ledger)
        if forced and env.promote_from is not None:
            run.emitter.emit(
                EventKind.note,
                override_note(req.actor, env.promote_from, forced),
                forced_promotion=[m.release_id for m in forced],
            )
        _refuse_blocked(plan)
        approver = _approval(ledger, platform, plan, req)
        if approver:
            run.emitter.emit(EventKind.note, f"approved by {approver}", approver=approver)
        secrets = {rid: d.decrypted for rid, d in snap.desired.items() if d.decrypted is not None}
        concurrency = 1 if req.serial else (req.concurrency or env.concurrency or 4)
        monitor = req.monitor_seconds if req.monitor_seconds is not None else env.monitor_seconds
        runner = Runner(
            run.ctx, from_plan(platform, plan, secrets), RunOptions(concurrency, req.on_failure, monitor)
        )
        run.acting()
        result = await runner.run()
        run.finish(result.outcome, result.error(), result.summary())
    return Deployment(platform, plan, result, approver, recovered)


@dataclass
class RequestedDeploy:
    """A deploy asked for through the server: its plan, recorded as requested by the asker, and whether
    it may run now (`ready`) or awaits an approval (`awaiting-approval`: the approvers were told)."""

    plan: Plan
    state: str
    approver: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "plan": self.plan.id,
            "digest": self.plan.digest,
            "state": self.state,
            "approver": self.approver,
        }


async def request_deploy(req: DeployRequest) -> RequestedDeploy:
    """The first half of a deploy requested through the server: plan now (with the pre-deployment
    checks), record the plan as requested by `req.actor` and the request in the audit log, then say
    whether an approval that counts is on record. The second half is `apply` of exactly this plan."""
    from gripctl.engine.approvals import counts

    platform = load(req.root, req.environment)
    env = platform.environment
    ids = selected(platform, req.selection)
    ledger = ledger_of(platform)
    cluster = await reach(platform)
    snap = await _observe(platform, ids, cluster)
    if not req.skip_validation:
        await _gate(platform, snap, ids)
    plan = decide_plan(platform, snap, ids, ledger)
    record = ledger.save_plan(
        plan.digest, env.name, plan_to_dict(plan), plan.git_commit, requested_by=req.actor
    )
    ledger.record_audit(
        req.actor,
        req.source,
        "deploy.request",
        plan.digest,
        {"environment": env.name, "plan": plan.id, "releases": ids},
    )
    if env.approval is not Approval.required or not plan.has_changes:
        return RequestedDeploy(plan, "ready")
    excluded = {req.actor} | ({record.requested_by} if record.requested_by else set())
    for approval in ledger.valid_approvals(plan.digest):
        if counts(env, approval, excluded):
            return RequestedDeploy(plan, "ready", approval.approver)
    request_approval(platform, ledger, record, record.requested_by or req.actor)
    return RequestedDeploy(plan, "awaiting-approval")


def awaiting_deploy(ledger: Ledger, plan_digest: str) -> str | None:
    """Who asked the server to deploy this plan, while that request is outstanding (asked for through
    the API, not deployed since); None otherwise. The server starts it once the plan is approved."""
    from gripctl.service.approvals import deploy_run

    asked = [e for e in ledger.audit_log(action="deploy.request", limit=1000) if e.target == plan_digest]
    if not asked or deploy_run(ledger, plan_digest) is not None:
        return None
    return asked[0].actor


def saved_plan(ledger: Ledger, plan_id: str) -> Plan:
    """A plan the ledger keeps, as the engine's Plan (for `apply` of exactly it)."""
    from gripctl.plan.serialize import plan_from_dict

    record = ledger.get_plan(plan_id)
    if record is None:
        raise UsageError(f"no plan {plan_id!r} in the ledger", hint="request a deploy to compute one")
    return plan_from_dict(record.body, source=f"plan {record.id}")


async def apply(req: DeployRequest) -> Deployment:
    """Run exactly a saved plan: re-plan first and refuse (PlanStaleError) if anything changed."""
    if req.saved_plan is None:
        raise UsageError("apply needs a saved plan", hint="`gripctl plan -e ENV --out plan.json` writes one")
    return await deploy(replace(req, environment=req.environment or req.saved_plan.environment))


def _approval(ledger: Ledger, platform: Platform, plan: Plan, req: DeployRequest) -> str | None:
    """The plan's approver (or None when none is needed); refusing, tell the approvers it awaits them."""
    env = platform.environment
    key = req.signing_key

    def sign(digest: str, environment: str) -> SignedDecision:
        assert key is not None
        return sign_decision(key, "approve", digest, environment)

    def save() -> PlanRecord:
        return ledger.save_plan(
            plan.digest, env.name, plan_to_dict(plan), plan.git_commit, requested_by=req.actor
        )

    try:
        return require_approval(
            ledger,
            env,
            plan,
            actor=req.actor,
            confirm=req.confirm,
            save_plan=save,
            sign=sign if key is not None else None,
            allowed_signers=platform.allowed_signers,
        )
    except ApprovalError:
        record = ledger.get_plan(plan.digest)
        if record is not None and not ledger.valid_approvals(plan.digest):
            request_approval(platform, ledger, record, record.requested_by or req.actor)
        raise


def _refuse_blocked(plan: Plan) -> None:
    """A pending-* release another helm may still be operating on: the plan said so; deploy refuses."""
    for rp in plan.releases:
        if rp.action is Action.blocked:
            raise LockedError(
                f"release {rp.release_id} ({rp.namespace}/{rp.helm_name}): {rp.reason}",
                hint="wait for that helm to finish and re-run; if nobody is running helm, it becomes "
                f"unlockable at the time above, or now with `gripctl unlock {rp.release_id}` "
                "(or `helm rollback`)",
            )


# -- rollback, recover, unlock -------------------------------------------------------------------------


@dataclass(frozen=True)
class RollbackRequest:
    root: Path
    environment: str | None
    release_id: str
    revision: int | None = None  # None: the last good revision before the current one
    actor: str = field(default_factory=actor)
    wait_lock: float = 0.0
    sinks: Sequence[EventSink] = ()
    source: str = "cli"


@dataclass
class RollbackResult:
    run_id: int
    release_id: str
    phase: str
    revision: int | None  # the revision the rollback made
    to_revision: int  # the revision rolled back to
    reason: str

    @property
    def ok(self) -> bool:
        return self.phase == "rolled-back"

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "release": self.release_id,
            "phase": self.phase,
            "revision": self.revision,
            "to_revision": self.to_revision,
            "reason": self.reason,
        }


async def rollback(req: RollbackRequest) -> RollbackResult:
    """`gripctl rollback RELEASE [REVISION]`: locked, recorded, verified — a run like any other."""
    platform = load(req.root, req.environment)
    release = platform.release(req.release_id)
    ledger = ledger_of(platform)
    cluster = await reach(platform)
    w = world(platform, ledger, cluster)
    entries = await w.helm.history(release)
    if not entries:
        raise UsageError(
            f"release {release.id} is not installed in {platform.environment.name}: nothing to roll back"
        )
    latest = max(entries, key=lambda e: e.revision)
    revision = req.revision
    if revision is None:
        revision = last_good_revision(entries, before=latest.revision)
        if revision is None:
            raise UsageError(f"release {release.id} has no earlier good revision to roll back to")
    elif revision not in {e.revision for e in entries}:
        known = ", ".join(str(e.revision) for e in entries)
        raise UsageError(f"release {release.id} has no revision {revision}", hint=f"revisions: {known}")
    rr = standalone(
        release, Goal.revision, helm_status=latest.status, target_revision=revision, revision=latest.revision
    )
    async with recorded_run(
        w,
        RunKind.rollback,
        req.actor,
        title=f"rollback of {release.id} to revision {revision}",
        sinks=req.sinks,
        sink_factories=sink_factories(),
        wait_lock=req.wait_lock,
        data={"release": release.id, "to_revision": revision},
    ) as run:
        ledger.record_audit(
            req.actor, req.source, "rollback", release.id,
            {"run": run.run_id, "environment": platform.environment.name, "to_revision": revision},
        )  # fmt: skip
        run.acting()
        await drive(run.ctx, rr)
        ok = rr.verified is True
        run.finish(
            RunOutcome.succeeded if ok else RunOutcome.failed, None if ok else rr.reason, rr.phase.value
        )
    return RollbackResult(run.run_id, release.id, rr.phase.value, rr.revision, revision, rr.reason)


@dataclass(frozen=True)
class RecoverRequest:
    root: Path
    environment: str | None
    actor: str = field(default_factory=actor)
    wait_lock: float = 0.0
    sinks: Sequence[EventSink] = ()


@dataclass
class RecoverResult:
    run_id: int
    recovered: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "recovered": self.recovered}


async def recover(req: RecoverRequest) -> RecoverResult:
    """`gripctl recover -e ENV`: recover interrupted runs without deploying anything."""
    platform = load(req.root, req.environment)
    ledger = ledger_of(platform)
    cluster = await reach(platform)
    async with recorded_run(
        world(platform, ledger, cluster),
        RunKind.recover,
        req.actor,
        title=f"recover interrupted runs in {platform.environment.name}",
        sinks=req.sinks,
        sink_factories=sink_factories(),
        wait_lock=req.wait_lock,
    ) as run:
        run.acting()
        done = await recover_interrupted(run, ledger, platform)
        run.finish(
            RunOutcome.succeeded, None, f"{len(done)} thing(s) recovered" if done else "nothing to recover"
        )
    return RecoverResult(run.run_id, done)


@dataclass(frozen=True)
class UnlockRequest:
    root: Path
    environment: str | None
    release_id: str
    force: bool = False  # unlock even if another helm may still be operating on it
    actor: str = field(default_factory=actor)
    wait_lock: float = 0.0
    sinks: Sequence[EventSink] = ()


@dataclass
class UnlockResult:
    run_id: int
    release_id: str
    phase: str
    revision: int | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


async def unlock(req: UnlockRequest) -> UnlockResult:
    """`gripctl unlock RELEASE`: free a release a dead helm left pending-*, by the plan's rule."""
    platform = load(req.root, req.environment)
    release = platform.release(req.release_id)
    ledger = ledger_of(platform)
    cluster = await reach(platform)
    observed = await observe_release(release, cluster.target)
    if observed.status is not ReleaseStatus.locked:
        raise UsageError(
            f"release {release.id} is not locked (helm status: {observed.helm_status or 'not installed'})",
            hint="only a pending-install/upgrade/rollback release needs unlocking",
        )
    from gripctl.observe.types import DesiredRelease

    placeholder = DesiredRelease(release.id, "", "", "", "")
    action, reason = decide(observed, placeholder, (), LockFacts(release.timeout_seconds))
    if action is Action.blocked and not req.force:
        raise LockedError(
            f"release {release.id}: {reason}",
            hint="wait, or pass --force if you know no helm is running on it",
        )
    rr = standalone(
        release,
        Goal.unlock,
        helm_status=observed.helm_status,
        locked=True,
        previous_good=observed.deployed_revision,
        revision=observed.revision,
    )
    async with recorded_run(
        world(platform, ledger, cluster),
        RunKind.recover,
        req.actor,
        title=f"unlock of {release.id} ({observed.helm_status})",
        sinks=req.sinks,
        sink_factories=sink_factories(),
        wait_lock=req.wait_lock,
        data={"release": release.id},
    ) as run:
        run.acting()
        await drive(run.ctx, rr)
        ok = not rr.locked and not rr.gave_up
        run.finish(RunOutcome.succeeded if ok else RunOutcome.failed, None if ok else rr.reason, "unlocked")
    message = (
        f"rolled back to revision {observed.deployed_revision}"
        if observed.deployed_revision is not None
        else "uninstalled (it never deployed)"
    )
    return UnlockResult(
        run.run_id, release.id, "unlocked" if ok else "failed", rr.revision, message if ok else rr.reason
    )
