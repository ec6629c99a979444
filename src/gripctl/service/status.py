"""Read-only views of an environment: status (health and drift of every release), a release's helm
history with the run behind each revision, and on-demand verification."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gripctl.engine.signals import PrometheusWatch
from gripctl.engine.verify import Baseline, ClusterView, evaluate, targets_of, verify_release
from gripctl.errors import GripError
from gripctl.model.selection import Selection
from gripctl.observe.snapshot import snapshot
from gripctl.plan.compute import LockFacts, decide, mask_values_for
from gripctl.plan.diff import diff_manifests
from gripctl.service.workspace import ledger_of, load, selected
from gripctl.service.world import reach


@dataclass(frozen=True)
class StatusRequest:
    root: Path
    environment: str | None = None
    selection: Selection = field(default_factory=Selection)


@dataclass(frozen=True)
class ReleaseStatusRow:
    release_id: str
    helm_name: str
    namespace: str
    status: str  # helm's word, or absent
    revision: int | None
    chart_version: str | None
    desired_chart_version: str | None  # None when the repository's side could not be rendered here
    health: str  # healthy | progressing | failed | absent
    health_reason: str
    drift: bool | None  # the repository differs from the release helm stored; None: unknown here
    drift_reason: str  # what differs, or why drift is unknown
    action: str  # what a deploy would do
    live_drift: bool | None = None  # the live objects differ from the release helm stored (`gripctl drift`)
    live_drift_reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class StatusResult:
    environment: str
    rows: list[ReleaseStatusRow]

    def to_dict(self) -> list[dict[str, Any]]:
        return [r.to_dict() for r in self.rows]


async def status(req: StatusRequest) -> StatusResult:
    """Every selected release: revision, chart version, health now (one look at the watch caches), and
    whether the repository has drifted from it. Needs no age key: a release whose secrets cannot be
    decrypted here still shows its state, with drift unknown."""
    platform = load(req.root, req.environment)
    ids = selected(platform, req.selection)
    cluster = await reach(platform)
    view = ClusterView(cluster.kube)
    _, snap, live = await asyncio.gather(
        view.start(),
        snapshot(
            platform,
            ids,
            cluster.target,
            concurrency=platform.environment.concurrency,
            kube_version=cluster.version,
            secrets_optional=True,
        ),
        _live_drift(req),
    )
    try:
        rows = []
        for rid in ids:
            release, observed = platform.release(rid), snap.observed[rid]
            desired = snap.desired.get(rid)
            if observed.exists:
                health = evaluate(view, targets_of(observed.manifest, release.namespace), Baseline())
                state, why = health.state, health.reason
            else:
                state, why = "absent", ""
            if desired is None:
                drift, drift_reason, action = (
                    None,
                    f"unknown: secrets not decryptable here ({snap.undecryptable[rid]})",
                    "unknown",
                )
            else:
                masks = mask_values_for(observed, desired)
                changes = diff_manifests(
                    observed.manifest if observed.exists else "", desired.manifest, release.namespace, masks
                )
                planned, reason = decide(observed, desired, changes, LockFacts(release.timeout_seconds))
                drift, drift_reason, action = planned.value != "noop", reason, planned.value
            rows.append(
                ReleaseStatusRow(
                    rid,
                    release.name,
                    release.namespace,
                    observed.helm_status or "absent",
                    observed.revision,
                    observed.chart_version,
                    desired.chart_version if desired else None,
                    state,
                    why,
                    drift,
                    drift_reason,
                    action,
                    *live.get(rid, live.get("*", (None, ""))),
                )
            )
        return StatusResult(platform.environment.name, rows)
    finally:
        view.stop()


async def _live_drift(req: StatusRequest) -> dict[str, tuple[bool | None, str]]:
    """Per release: do the live objects still hold what helm applied? (read-only, not recorded)."""
    from gripctl.service.drift import DriftRequest, ReleaseDriftStatus, drift

    try:
        found = await drift(DriftRequest(req.root, req.environment, req.selection, record=False))
    except GripError as exc:
        return {"*": (None, f"live drift unknown: {exc.message}")}  # every release
    out: dict[str, tuple[bool | None, str]] = {}
    for r in found.releases:
        if r.status is ReleaseDriftStatus.drifted:
            out[r.release_id] = (True, r.message)
        elif r.status is ReleaseDriftStatus.in_sync:
            out[r.release_id] = (False, "")
        else:
            out[r.release_id] = (None, r.message)
    return out


@dataclass(frozen=True)
class HistoryRequest:
    root: Path
    environment: str | None
    release_id: str


@dataclass(frozen=True)
class RevisionRow:
    revision: int
    status: str
    chart: str
    app_version: str
    updated: str
    description: str
    run: int | None  # the gripctl run that made this revision

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class HistoryResult:
    release_id: str
    environment: str
    revisions: list[RevisionRow]  # newest first

    def to_dict(self) -> list[dict[str, Any]]:
        return [r.to_dict() for r in self.revisions]


async def history(req: HistoryRequest) -> HistoryResult:
    """A release's helm revisions, newest first, each with the gripctl run that made it."""
    from gripctl.adapters import helmd

    platform = load(req.root, req.environment)
    release = platform.release(req.release_id)
    cluster = await reach(platform)
    entries = await helmd.history(release.name, release.namespace, cluster.target, max_entries=50)
    runs = ledger_of(platform).revision_runs(release.id, platform.environment.name)
    rows = [
        RevisionRow(
            e.revision, e.status, e.chart, e.app_version, e.updated, e.description, runs.get(e.revision)
        )
        for e in sorted(entries, key=lambda e: e.revision, reverse=True)
    ]
    return HistoryResult(release.id, platform.environment.name, rows)


@dataclass(frozen=True)
class VerifyRequest:
    root: Path
    environment: str | None = None
    selection: Selection = field(default_factory=Selection)
    timeout: float | None = None  # seconds per release; None: its own timeout


@dataclass(frozen=True)
class VerifyRow:
    release_id: str
    ok: bool
    reason: str
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class VerifyResult:
    rows: list[VerifyRow]

    @property
    def unhealthy(self) -> list[VerifyRow]:
        return [r for r in self.rows if not r.ok]

    def to_dict(self) -> list[dict[str, Any]]:
        return [r.to_dict() for r in self.rows]


async def verify(req: VerifyRequest) -> VerifyResult:
    """The post-deployment checks of every selected installed release, now, in parallel (read-only)."""
    from gripctl.adapters import helmd

    platform = load(req.root, req.environment)
    ids = selected(platform, req.selection)
    cluster = await reach(platform)
    view = ClusterView(cluster.kube)
    await view.start()

    async def one(rid: str) -> VerifyRow:
        release = platform.release(rid)
        entries = await helmd.history(release.name, release.namespace, cluster.target, max_entries=5)
        if not entries:
            return VerifyRow(rid, False, "not installed", 0.0)
        manifest = await helmd.get_manifest(release.name, release.namespace, cluster.target)
        result = await verify_release(
            cluster.kube,
            view,
            manifest,
            release.namespace,
            timeout_seconds=req.timeout or release.timeout_seconds,
            http_checks=release.http_checks,
            signals=(
                PrometheusWatch(settings, release.prometheus_checks)
                if (settings := platform.environment.prometheus) and release.prometheus_checks
                else None
            ),
        )
        return VerifyRow(rid, result.ok, result.reason or "healthy", round(result.seconds, 3))

    try:
        return VerifyResult(list(await asyncio.gather(*(one(rid) for rid in ids))))
    finally:
        view.stop()


@dataclass(frozen=True)
class RevisionDiffRequest:
    root: Path
    environment: str | None
    release_id: str
    from_revision: int
    to_revision: int


@dataclass
class RevisionDiff:
    release_id: str
    environment: str
    from_revision: int
    to_revision: int
    changes: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _known_secret_values(platform: Any, release_id: str) -> set[str]:
    """The repository's secret values of the release and of the secrets release serving it, when this
    machine can decrypt them (masked wherever they appear); empty otherwise: Secrets are masked anyway."""
    from gripctl.errors import GripError
    from gripctl.secrets.decrypt import decrypt_values
    from gripctl.secrets.values import secret_leaves

    values: set[str] = set()
    for release in platform.releases.values():
        if release.id != release_id and release.secrets_for != release_id:
            continue
        for source in release.secrets:
            try:
                values |= secret_leaves(decrypt_values(source.path, root=platform.root))
            except GripError:
                continue
    return values


async def revision_diff(req: RevisionDiffRequest) -> RevisionDiff:
    """The object diff between two helm revisions of a release (secrets masked): what changed from
    `from_revision` to `to_revision`."""
    from gripctl.adapters import helm
    from gripctl.errors import UsageError

    platform = load(req.root, req.environment)
    release = platform.release(req.release_id)
    cluster = await reach(platform)
    entries = await helm.history(release.name, release.namespace, cluster.target, max_entries=256)
    known = {e.revision for e in entries}
    for rev in (req.from_revision, req.to_revision):
        if rev not in known:
            raise UsageError(
                f"release {release.id} has no revision {rev} in {platform.environment.name}",
                hint="revisions: " + (", ".join(str(r) for r in sorted(known)) or "none"),
            )
    old, new = await asyncio.gather(
        helm.get_manifest(release.name, release.namespace, cluster.target, revision=req.from_revision),
        helm.get_manifest(release.name, release.namespace, cluster.target, revision=req.to_revision),
    )
    secrets = await asyncio.to_thread(_known_secret_values, platform, release.id)
    changes = diff_manifests(old, new, release.namespace, secrets)
    return RevisionDiff(
        release.id,
        platform.environment.name,
        req.from_revision,
        req.to_revision,
        [
            {
                "kind": c.kind,
                "namespace": c.namespace,
                "name": c.name,
                "change": c.change,
                # diff_manifests names its sides live and desired; here they are two revisions.
                "diff": c.diff.replace("--- live ", f"--- revision {req.from_revision} ", 1).replace(
                    "+++ desired ", f"+++ revision {req.to_revision} ", 1
                ),
            }
            for c in changes
        ],
    )


@dataclass(frozen=True)
class EnvironmentInfo:
    name: str
    approval: str
    approvers: tuple[str, ...]
    four_eyes: bool
    approval_expiry_seconds: float
    releases: tuple[str, ...]  # in graph order
    waves: tuple[tuple[str, ...], ...]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


_ENVIRONMENTS: dict[Path, tuple[tuple[object, ...], list[EnvironmentInfo]]] = {}


def environments(root: Path) -> list[EnvironmentInfo]:
    """Every declared environment with its approval rules and its releases in graph order (kept while
    the repository's fingerprint holds: the server asks on every page)."""
    from gripctl.service.workspace import fingerprint

    mark = fingerprint(root)
    hit = _ENVIRONMENTS.get(root)
    if hit is not None and hit[0] == mark:
        return hit[1]
    found = _environments(root)
    _ENVIRONMENTS[root] = (mark, found)
    return found


def _environments(root: Path) -> list[EnvironmentInfo]:
    from gripctl.model.graph import Graph
    from gripctl.model.loader import environment_names

    out = []
    names: list[str | None] = [*environment_names(root)] or [None]
    for name in names:
        platform = load(root, name)
        env = platform.environment
        waves = tuple(tuple(w) for w in Graph.from_platform(platform).waves())
        out.append(
            EnvironmentInfo(
                env.name,
                env.approval.value,
                env.approvers,
                env.four_eyes,
                env.approval_expiry_seconds,
                tuple(rid for wave in waves for rid in wave),
                waves,
            )
        )
    return out
