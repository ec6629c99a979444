"""Observe one Helm release: status, revisions, live manifest and user values. Read-only helm calls."""

from __future__ import annotations

import re
from dataclasses import replace

from gripctl.adapters import helmd
from gripctl.adapters.helm import HistoryEntry, KubeTarget
from gripctl.model.types import Release
from gripctl.observe.processes import helm_running_for
from gripctl.observe.types import ObservedRelease, ReleaseStatus

# Helm's status words -> what gripctl acts on. A pending-* status means a helm operation was
# interrupted (killed, timed out client-side): helm refuses further operations until it is unlocked.
_STATUS = {
    "deployed": ReleaseStatus.deployed,
    "failed": ReleaseStatus.failed,
    "pending-install": ReleaseStatus.locked,
    "pending-upgrade": ReleaseStatus.locked,
    "pending-rollback": ReleaseStatus.locked,
    "superseded": ReleaseStatus.superseded,
    "uninstalling": ReleaseStatus.uninstalling,
    "uninstalled": ReleaseStatus.absent,  # kept history (`--keep-history`): nothing is installed
}

# `chart` in helm's output is "<name>-<version>"; names may contain dashes, versions start with a digit.
_CHART_RE = re.compile(r"^(?P<name>.+?)-(?P<version>v?\d+\.\d+.*)$")


def helm_status(word: str) -> ReleaseStatus:
    return _STATUS.get(word.lower(), ReleaseStatus.unknown)


def chart_version(chart: str) -> str | None:
    """`cert-manager-1.14.2` -> `1.14.2`; None when helm's string has no recognisable version."""
    m = _CHART_RE.match(chart)
    return m.group("version") if m else None


def last_deployed_revision(entries: list[HistoryEntry]) -> int | None:
    """The newest revision that was (or still is) deployed: where an unlock or rollback goes back to.

    Helm marks the running revision `deployed`; after a failed upgrade the previous one is `superseded`,
    which still names a revision that once ran successfully.
    """
    for wanted in ("deployed", "superseded"):
        revisions = [e.revision for e in entries if e.status == wanted]
        if revisions:
            return max(revisions)
    return None


async def observe_release(release: Release, target: KubeTarget) -> ObservedRelease:
    """What the cluster has for `release` now. Never changes anything."""
    entries = await helmd.history(release.name, release.namespace, target, max_entries=20)
    base = ObservedRelease(
        release_id=release.id,
        helm_name=release.name,
        namespace=release.namespace,
        status=ReleaseStatus.absent,
    )
    if not entries:
        return base
    latest = max(entries, key=lambda e: e.revision)
    status = helm_status(latest.status)
    deployed = last_deployed_revision(entries)
    if status is ReleaseStatus.absent:
        return replace(base, helm_status=latest.status, revision=latest.revision)
    # For a locked release the stuck revision's manifest was never fully applied: compare against the
    # last deployed one, which is what an unlock rolls back to before upgrading.
    manifest_revision = (
        deployed if status is ReleaseStatus.locked and deployed is not None else latest.revision
    )
    manifest = await helmd.get_manifest(release.name, release.namespace, target, revision=manifest_revision)
    values = await helmd.get_values(release.name, release.namespace, target, revision=manifest_revision)
    chart = next((e.chart for e in entries if e.revision == manifest_revision), latest.chart)
    return ObservedRelease(
        release_id=release.id,
        helm_name=release.name,
        namespace=release.namespace,
        status=status,
        helm_status=latest.status,
        revision=latest.revision,
        deployed_revision=deployed,
        manifest_revision=manifest_revision,
        chart=chart,
        chart_version=chart_version(chart),
        updated=latest.updated,
        description=latest.description,
        helm_running=status is ReleaseStatus.locked and helm_running_for(release.name, release.namespace),
        manifest=manifest,
        values=values,
    )
