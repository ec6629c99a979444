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
