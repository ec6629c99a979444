"""compute_plan: desired (repository) vs observed (cluster) gives one action per release. Pure.

The rules, in Flux helm-controller's spirit (each status has one next step):

    absent                       -> install
    locked (pending-*)           -> unlock   (roll back to the last deployed revision, then upgrade)
                                    when left by an interrupted gripctl run, or older than the
                                    release's timeout with no helm process for it on this host;
                                 -> blocked  otherwise: another helm may still be working on it
    failed                       -> upgrade
    deployed, and the manifest, the user values or the chart version differ -> upgrade
    deployed and identical       -> noop
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from gripctl import yamlio as yaml
from gripctl.digest import canonical_json, sha256_text, values_digest
from gripctl.errors import UsageError
from gripctl.helmvalues import leaf_paths
from gripctl.model.graph import Graph
from gripctl.model.types import Platform
from gripctl.observe.types import DesiredRelease, ObservedRelease, Snapshot
from gripctl.plan.diff import diff_manifests
from gripctl.plan.digest import combine
from gripctl.plan.types import Action, ObjectChange, Plan, ReleasePlan, ReleaseStatus
from gripctl.secrets.values import mask, secret_leaves
from gripctl.timestamps import epoch

MAX_PATHS_IN_REASON = 5


def mask_values_for(observed: ObservedRelease, desired: DesiredRelease) -> frozenset[str]:
    """Every value to mask for a release: the desired secret leaves, and the *live* values at the same
    key paths (the old secrets, which no decrypted file names any more)."""
    values = set(desired.secret_values)
    if desired.secret_paths and observed.values:
        live = {path: v for path, v in leaf_paths(observed.values) if path in desired.secret_paths}
        if live:
            values |= secret_leaves(yaml.safe_dump(live).encode())
    return frozenset(values)


def changed_value_paths(live: Mapping[str, Any], desired: Mapping[str, Any]) -> list[str]:
    """Dotted key paths whose value differs (never the values themselves)."""
    before = {p: canonical_json(v) for p, v in leaf_paths(live)}
    after = {p: canonical_json(v) for p, v in leaf_paths(desired)}
    return sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))


def _paths_text(paths: list[str]) -> str:
    shown = ", ".join(paths[:MAX_PATHS_IN_REASON])
    more = len(paths) - MAX_PATHS_IN_REASON
    return shown + (f" and {more} more" if more > 0 else "")


def _objects_text(changes: Iterable[ObjectChange]) -> str:
    counts: dict[str, int] = {}
    for c in changes:
        counts[c.change] = counts.get(c.change, 0) + 1
    parts = [f"{counts[k]} {k}" for k in ("added", "changed", "removed") if k in counts]
    return "objects " + ", ".join(parts)


@dataclass(frozen=True)
class LockFacts:
    """What decides between unlocking a pending-* release and refusing it (see the module docstring)."""

    timeout_seconds: float = 300.0
    now: float = field(default_factory=time.time)
    interrupted_run: int | None = None  # the dead gripctl run that left it so, from the ledger


def _locked(observed: ObservedRelease, facts: LockFacts) -> tuple[Action, str]:
    rev, word = observed.revision, observed.helm_status
    since = f" since {observed.updated}" if observed.updated else ""
    back = (
        f"roll back to revision {observed.deployed_revision}, then upgrade"
        if observed.deployed_revision is not None
        else "uninstall, then install (it never deployed)"
    )
    if facts.interrupted_run is not None:
        return (
            Action.unlock,
            f"{word} at revision {rev}{since}, left by interrupted run {facts.interrupted_run}; {back}",
        )
    started = epoch(observed.updated)
    if observed.helm_running:
        return (
            Action.blocked,
            f"{word} at revision {rev}{since}: a helm process on this host is operating on it; "
            "unlockable once it ends",
        )
    if started is not None and facts.now - started < facts.timeout_seconds:
        until = datetime.fromtimestamp(started + facts.timeout_seconds, UTC).isoformat(timespec="seconds")
        return (
            Action.blocked,
            f"locked by another helm{since} ({word} at revision {rev}); unlockable after {until} "
            f"(its timeout, {facts.timeout_seconds:.0f}s)",
        )
    return Action.unlock, f"{word} at revision {rev}{since} (an interrupted helm run); {back}"


def decide(
    observed: ObservedRelease,
    desired: DesiredRelease,
    changes: tuple[ObjectChange, ...],
    locks: LockFacts | None = None,
) -> tuple[Action, str]:
    """The action for one release and a one-line reason an operator can read."""
    status, rev = observed.status, observed.revision
    if status is ReleaseStatus.absent:
        if observed.helm_status == "uninstalled":
            return Action.install, f"uninstalled at revision {rev}; will be installed again"
        return Action.install, "not installed"
    if status in (ReleaseStatus.locked, ReleaseStatus.uninstalling):
        return _locked(observed, locks or LockFacts())
    if status is ReleaseStatus.failed:
        note = f": {observed.description}" if observed.description else ""
        return Action.upgrade, f"revision {rev} failed{note}"
    if status is not ReleaseStatus.deployed:
        return Action.upgrade, f"helm reports status {observed.helm_status!r} for revision {rev}"
    why: list[str] = []
    if observed.chart_version != desired.chart_version:
        why.append(f"chart {observed.chart_version or '?'} -> {desired.chart_version}")
    if values_digest(observed.values) != desired.values_digest:
        paths = changed_value_paths(observed.values, desired.values)
        why.append(f"values changed: {_paths_text(paths)}" if paths else "values changed")
    if changes:
        why.append(_objects_text(changes))
    if why:
        return Action.upgrade, "; ".join(why)
    return Action.noop, f"in sync at revision {rev}"


def _live_input(observed: ObservedRelease) -> str:
    if observed.status is ReleaseStatus.absent:
        return sha256_text(f"absent:{observed.helm_status or ''}:{observed.revision or ''}")
    return sha256_text(
        f"{observed.revision}:{observed.helm_status}:{observed.manifest_revision}:{sha256_text(observed.manifest)}"
    )


def plan_inputs(snapshot: Snapshot, release_ids: list[str]) -> dict[str, str]:
    """Every named input of a plan -> its sha256. See docs/plan.md, "What the digest covers"."""
    inputs: dict[str, str] = dict(snapshot.inputs)
    inputs["selection"] = sha256_text("\n".join(sorted(release_ids)))
    if snapshot.kube_version:
        inputs["kubernetes version"] = sha256_text(snapshot.kube_version)
    for rid in release_ids:
        inputs.update(snapshot.desired[rid].inputs)
        inputs[f"live release {rid}"] = _live_input(snapshot.observed[rid])
    return inputs


def compute_plan(
    platform: Platform,
    snapshot: Snapshot,
    release_ids: list[str],
    *,
    created_at: str | None = None,
    git_commit: str | None = None,
    now: float | None = None,
    interrupted: Mapping[str, int] | None = None,
    reapply: Mapping[str, str] | None = None,
) -> Plan:
    """The plan for `release_ids` (a selection of the platform) from a snapshot that covers them.

    `interrupted` maps release ids to the dead gripctl run that left them pending (from the ledger);
    `now` is the clock the lock rule reads (default: the current time); `reapply` maps release ids to
    why an in-sync release is upgraded anyway (`gripctl drift --fix`: the live objects drifted).
    """
    moment = time.time() if now is None else now
    missing = [rid for rid in release_ids if rid not in snapshot.observed or rid not in snapshot.desired]
    if missing:
        raise UsageError(
            f"the snapshot does not cover {', '.join(missing)}",
            hint="take the snapshot for the same selection the plan is computed for",
        )
    graph = Graph.from_platform(platform).subgraph(release_ids)
    plans: list[ReleasePlan] = []
    for rid in graph.topological():
        release = platform.release(rid)
        observed, desired = snapshot.observed[rid], snapshot.desired[rid]
        masks = mask_values_for(observed, desired)
        changes = diff_manifests(
            observed.manifest if observed.exists else "", desired.manifest, release.namespace, masks
        )
        locks = LockFacts(release.timeout_seconds, moment, (interrupted or {}).get(rid))
        action, reason = decide(observed, desired, changes, locks)
        if action is Action.noop and rid in (reapply or {}):
            action, reason = Action.upgrade, f"re-apply revision {observed.revision}: {(reapply or {})[rid]}"
        plans.append(
            ReleasePlan(
                release_id=rid,
                helm_name=release.name,
                namespace=release.namespace,
                action=action,
                status=observed.status,
                live_revision=observed.revision,
                live_chart_version=observed.chart_version,
                desired_chart_version=desired.chart_version,
                needs=tuple(release.needs),
                changes=changes,
                reason=mask(reason, masks),
                deployed_revision=observed.deployed_revision,
                helm_status=observed.helm_status,
                values_digest=desired.values_digest or None,
            )
        )
    inputs = plan_inputs(snapshot, release_ids)
    for rid, why in sorted((reapply or {}).items()):  # approving a re-apply approves exactly this one
        inputs[f"re-apply {rid}"] = sha256_text(why)
    return Plan(
        environment=snapshot.environment,
        releases=tuple(plans),
        waves=tuple(tuple(w) for w in graph.waves()),
        digest=combine(inputs),
        created_at=created_at or datetime.now(UTC).isoformat(timespec="seconds"),
        git_commit=git_commit if git_commit is not None else snapshot.git_commit,
        inputs=inputs,
    )
