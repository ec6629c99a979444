"""The drift operation: does the cluster still hold what each release last applied? (docs/drift.md)

`drift(request)` loads the platform, reads every selected release's latest record from helm's storage
(one LIST of helm's Secrets for all of them), and compares each object of its stored manifest with the
live object by a server-side apply dry run (gripctl.observe.drift). Read-only from start to end.

Every check is recorded in the ledger (drift history per release; `ReleaseDrift.fingerprint` tells
the same drift seen again from a new one), and a NEW drift is notified once (`drift.detected`), not on
every check. The ledger's open findings feed the `gripctl_drift_objects` gauge (gripctl metrics).
`fix` re-applies the drifted releases through the normal deploy: locked, verified, recorded, and
under the environment's approval rules.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gripctl.model.selection import Selection
from gripctl.model.types import Platform, Release
from gripctl.observe.drift import DriftState, ObjectDrift, ReleaseManifest
from gripctl.service.workspace import ledger_of, load, selected

if TYPE_CHECKING:
    from gripctl.service.deploy import Deployment, DeployRequest


class ReleaseDriftStatus(StrEnum):
    in_sync = "in-sync"
    drifted = "drifted"
    absent = "absent"  # not installed: nothing to compare (`gripctl plan` shows it as an install)
    unsettled = "unsettled"  # the latest revision is failed or pending: compare after the next deploy
    error = "error"  # some objects could not be checked


@dataclass(frozen=True)
class DriftRequest:
    root: Path
    environment: str | None = None
    selection: Selection = field(default_factory=Selection)
    concurrency: int = 16  # API requests in flight at once
    dry_run_all: bool = False  # dry-run even objects whose live state already holds their whole manifest
    record: bool = True  # record the findings in the ledger and notify new drift


@dataclass(frozen=True)
class ReleaseDrift:
    release_id: str
    helm_name: str
    namespace: str
    status: ReleaseDriftStatus
    revision: int | None = None  # the helm revision whose manifest was compared
    helm_status: str | None = None
    objects: tuple[ObjectDrift, ...] = ()
    message: str = ""

    @property
    def drifted_objects(self) -> tuple[ObjectDrift, ...]:
        return tuple(o for o in self.objects if o.drifted)

    @property
    def fingerprint(self) -> str:
        """sha256 over what drifted (objects, paths, kinds of change; never values): equal fingerprints
        mean the same drift seen again."""
        parts = sorted(
            f"{o.ref.api_version}|{o.ref.kind}|{o.ref.namespace}|{o.ref.name}|{o.state}|"
            + ",".join(f"{f.path}:{f.change}" for f in o.fields)
            for o in self.drifted_objects
        )
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        return {
            "release": self.release_id,
            "helm_name": self.helm_name,
            "namespace": self.namespace,
            "status": str(self.status),
            "revision": self.revision,
            "helm_status": self.helm_status,
            "message": self.message,
            "fingerprint": self.fingerprint if self.drifted_objects else None,
            "objects": [o.to_dict() for o in self.objects if o.state is not DriftState.in_sync],
            "checked_objects": len(self.objects),
            "dry_runs": sum(o.dry_run for o in self.objects),
        }


@dataclass(frozen=True)
class DriftResult:
    environment: str
    context: str | None
    checked_at: str  # ISO 8601 UTC
    seconds: float
    releases: tuple[ReleaseDrift, ...] = field(default=())
    new: tuple[str, ...] = ()  # release ids whose drift this check saw first (recorded and notified)

    @property
    def drifted(self) -> bool:
        return any(r.drifted_objects for r in self.releases)

    @property
    def errors(self) -> bool:
        return any(r.status is ReleaseDriftStatus.error for r in self.releases)

    @property
    def exit_code(self) -> int:
        """0 no drift, 2 drift, 1 some objects could not be checked (drift unknown)."""
        if self.errors:
            return 1
        return 2 if self.drifted else 0

    def counts(self) -> dict[str, int]:
        """Drifted objects per release id (the future gauge `gripctl_drift_objects`)."""
        return {r.release_id: len(r.drifted_objects) for r in self.releases}

    def to_dict(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "context": self.context,
            "checked_at": self.checked_at,
            "seconds": round(self.seconds, 3),
            "drifted": self.drifted,
            "new": list(self.new),
            "exit_code": self.exit_code,
            "releases": [r.to_dict() for r in self.releases],
        }


async def drift(request: DriftRequest) -> DriftResult:
    """Compare every selected release's stored manifest with the live cluster. Changes nothing."""
    from gripctl.adapters.helm_storage import latest_releases, secrets_driver
    from gripctl.observe.drift import observe_drift
    from gripctl.service.world import reach  # the Kubernetes client: imported when it is needed

    started = time.monotonic()
    checked_at = datetime.now(UTC).isoformat(timespec="seconds")
    platform = load(request.root, request.environment)
    ids = selected(platform, request.selection)
    cluster = await reach(platform)
    kube, target = cluster.kube, cluster.target
    releases = [platform.release(rid) for rid in ids]
    if secrets_driver():
        stored = await asyncio.to_thread(latest_releases, kube)
        records = {r.id: stored.get((r.namespace, r.name)) for r in releases}
    else:
        records = await _records_from_helm(releases, target, request.concurrency)

    out: dict[str, ReleaseDrift] = {}
    to_check: list[tuple[Release, Any]] = []
    for release in releases:
        record = records.get(release.id)
        base = ReleaseDrift(release.id, release.name, release.namespace, ReleaseDriftStatus.absent)
        if record is None or record.status == "uninstalled":
            out[release.id] = replace(base, message="not installed: nothing to compare (see `gripctl plan`)")
        elif record.status != "deployed":
            out[release.id] = replace(
                base,
                status=ReleaseDriftStatus.unsettled,
                revision=record.revision,
                helm_status=record.status,
                message=f"revision {record.revision} is {record.status}: drift is measured against a "
                "deployed revision; deploy (or `gripctl recover`) first",
            )
        else:
            to_check.append((release, record))

    manifests = [
        ReleaseManifest(r.id, r.namespace, record.manifest, platform.drift_rules(r.id))
        for r, record in to_check
    ]
    found = await observe_drift(
        kube, manifests, concurrency=request.concurrency, dry_run_all=request.dry_run_all
    )
    for (release, record), objects in zip(to_check, found, strict=True):
        out[release.id] = ReleaseDrift(
            release.id,
            release.name,
            release.namespace,
            _status(objects),
            revision=record.revision,
            helm_status=record.status,
            objects=objects,
            message=_summary(objects),
        )
    result = DriftResult(
        environment=platform.environment.name,
        context=target.context,
        checked_at=checked_at,
        seconds=time.monotonic() - started,
        releases=tuple(out[rid] for rid in ids),
    )
    if request.record:
        result = replace(result, new=await asyncio.to_thread(_record, platform, result))
    return result


def _record(platform: Platform, result: DriftResult) -> tuple[str, ...]:
    """Findings into the ledger (resolved when a release is in sync again); a new drift is notified."""
    from gripctl.incidents.setup import notifier_for
    from gripctl.model.settings import read_settings
    from gripctl.notify.events import EventKind, NotifyEvent

    ledger = ledger_of(platform)
    env = platform.environment.name
    new: list[ReleaseDrift] = []
    for r in result.releases:
        if r.status is ReleaseDriftStatus.drifted:
            findings = [o.to_dict() for o in r.drifted_objects]
            if ledger.record_drift(env, r.release_id, "live", r.fingerprint, findings):
                new.append(r)
        elif r.status is ReleaseDriftStatus.in_sync:
            ledger.resolve_drift(env, r.release_id, "live")
    if new:
        notifier = notifier_for(platform.root, ledger, read_settings(platform.root))
        for r in new:
            paths = "; ".join(
                f"{o.ref}: " + ", ".join(f.path for f in o.fields) if o.fields else f"{o.ref}: {o.state}"
                for o in r.drifted_objects
            )
            notifier.notify(
                NotifyEvent(
                    EventKind.drift_detected,
                    env,
                    f"drift in {env}: {r.release_id} differs from revision {r.revision}",
                    f"{r.message}\n{paths}\nre-apply: gripctl drift --fix -e {env} --only {r.release_id}",
                    release_id=r.release_id,
                )
            )
    return tuple(r.release_id for r in new)


@dataclass
class FixResult:
    drift: DriftResult
    deployment: Deployment | None  # None when nothing had drifted

    def to_dict(self) -> dict[str, Any]:
        return {
            "drift": self.drift.to_dict(),
            "deployment": self.deployment.to_dict() if self.deployment else None,
        }


async def fix(request: DriftRequest, deploy_request: DeployRequest) -> FixResult:
    """`gripctl drift --fix`: re-apply every drifted release of the selection through a normal deploy
    (its selection is replaced by the drifted releases; the reason of each upgrade names the drift)."""
    from gripctl.service.deploy import deploy

    found = await drift(request)
    drifted = {
        r.release_id: f"live objects drifted ({r.message})" for r in found.releases if r.drifted_objects
    }
    if not drifted:
        return FixResult(found, None)
    selection = Selection(only=tuple(drifted))
    deployment = await deploy(replace(deploy_request, selection=selection, reapply=drifted))
    return FixResult(found, deployment)


def _status(objects: tuple[ObjectDrift, ...]) -> ReleaseDriftStatus:
    if any(o.state is DriftState.error for o in objects):
        return ReleaseDriftStatus.error
    if any(o.drifted for o in objects):
        return ReleaseDriftStatus.drifted
    return ReleaseDriftStatus.in_sync


def _summary(objects: tuple[ObjectDrift, ...]) -> str:
    counts: dict[str, int] = {}
    for o in objects:
        counts[str(o.state)] = counts.get(str(o.state), 0) + 1
    order = [str(s) for s in (DriftState.drifted, DriftState.deleted, DriftState.error, DriftState.ignored)]
    parts = [f"{counts[s]} {s}" for s in order if counts.get(s)]
    dry_runs = sum(o.dry_run for o in objects)
    checked = f"{len(objects)} object{'' if len(objects) == 1 else 's'} checked ({dry_runs} by dry run)"
    return checked + (": " + ", ".join(parts) if parts else ", all in sync")


async def _records_from_helm(releases: list[Release], target: Any, concurrency: int) -> dict[str, Any]:
    """Helm's records through the helm binary, for storage drivers other than Secrets."""
    from gripctl.adapters.helm_storage import StoredRelease
    from gripctl.observe.release import observe_release

    gate = asyncio.Semaphore(max(1, min(concurrency, 4)))

    async def one(release: Release) -> StoredRelease | None:
        async with gate:
            observed = await observe_release(release, target)
        if not observed.exists or observed.manifest_revision is None:
            return None
        return StoredRelease(
            release.name,
            release.namespace,
            observed.manifest_revision,
            observed.helm_status or "",
            observed.manifest,
            observed.chart_version,
        )

    found = await asyncio.gather(*(one(r) for r in releases))
    return {r.id: record for r, record in zip(releases, found, strict=True)}
