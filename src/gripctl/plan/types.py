"""The plan: one decided action per release plus the graph, as pure data shared by plan and engine.

A Plan is computed by `gripctl.plan` from the model and an observation, saved as plan.json, approved
by its digest, and executed by `gripctl.engine`. Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from gripctl.observe.types import ReleaseStatus

__all__ = ["Action", "ObjectChange", "Plan", "ReleasePlan", "ReleaseStatus"]


class Action(StrEnum):
    """What the engine will do for a release, in Flux helm-controller's spirit: one small job each."""

    install = "install"  # absent -> helm upgrade --install
    upgrade = "upgrade"  # deployed/failed and the desired manifest, values or chart differ
    unlock = "unlock"  # locked -> roll back to the last deployed revision, then upgrade if still needed
    blocked = "blocked"  # locked by a helm operation that may still be running: deploy refuses it
    noop = "noop"  # in sync


@dataclass(frozen=True)
class ObjectChange:
    """One Kubernetes object's difference between live and desired, secrets already masked."""

    kind: str
    namespace: str | None
    name: str
    change: str  # added | changed | removed
    diff: str = ""  # unified diff for `changed` (masked)


@dataclass(frozen=True)
class ReleasePlan:
    release_id: str
    helm_name: str
    namespace: str
    action: Action
    status: ReleaseStatus
    live_revision: int | None
    live_chart_version: str | None
    desired_chart_version: str
    needs: tuple[str, ...] = ()
    changes: tuple[ObjectChange, ...] = ()
    reason: str = ""  # one line: why this action (e.g. "values changed", "pending-upgrade since 12:03")
    deployed_revision: int | None = None  # the last deployed revision: where unlock/rollback goes back to
    helm_status: str | None = None  # helm's own status word (pending-upgrade, ...) behind `status`
    # sha256 of the merged user values this plan deploys (secrets included, only ever hashed): what the
    # ledger records per install/upgrade, and what a promotion (`promote_from`) compares.
    values_digest: str | None = None

    @property
    def changed(self) -> bool:
        return self.action is not Action.noop


@dataclass(frozen=True)
class Plan:
    environment: str
    releases: tuple[ReleasePlan, ...]  # in topological order
    waves: tuple[tuple[str, ...], ...]  # release ids that may run together, in order
    digest: str  # sha256 over everything the plan was computed from (repo, values, live releases)
    created_at: str  # ISO 8601 UTC
    git_commit: str | None = None
    inputs: dict[str, str] = field(default_factory=dict)  # name -> sha256 of each input, for staleness errors

    @property
    def id(self) -> str:
        """The short id people type (`gripctl approve PLAN_ID`): the digest's first 12 hex digits."""
        return self.digest[:12]

    @property
    def has_changes(self) -> bool:
        return any(r.changed for r in self.releases)

    def get(self, release_id: str) -> ReleasePlan:
        for r in self.releases:
            if r.release_id == release_id:
                return r
        raise KeyError(release_id)
