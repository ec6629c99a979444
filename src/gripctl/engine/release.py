"""One release in a run: its goal, what the actions reported about it, and its progress for people."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from gripctl.engine.events import Phase
from gripctl.model.types import Platform, Release
from gripctl.observe.types import ReleaseStatus
from gripctl.plan.types import Action, Plan, ReleasePlan
from gripctl.secrets.values import secret_leaves


class Goal(StrEnum):
    """What a run wants for one release."""

    deploy = "deploy"  # the planned chart and values, healthy; remediate on failure
    revision = "revision"  # a named earlier revision, healthy (manual rollback)
    restore = "restore"  # back to how it was before the run (--on-failure rollback-run)
    check = "check"  # an interrupted run's leftovers: healthy stays, unhealthy is restored
    unlock = "unlock"  # only free a release a dead helm left pending-*


@dataclass
class ReleaseRun:
    """One release's state in a run: its goal, what the actions did, and its progress for people."""

    release: Release
    plan: ReleasePlan
    goal: Goal = Goal.deploy
    target_revision: int | None = None  # Goal.revision: where to go
    previous_good: int | None = None  # the revision that ran before this run: where restoring goes
    locked: bool = False  # helm left it pending-*: unlock before anything else
    # What the actions reported (the loop's observation of the release):
    applied: bool = False  # this run's install, upgrade or named rollback made `revision`
    restored: bool = False  # rolled back to `previous_good` (remediation, restore, recovery)
    uninstalled: bool = False
    revision: int | None = None  # the newest revision this run knows of
    manifest: str = field(default="", repr=False)  # the manifest of `revision`: what Verify watches
    verified: bool | None = None  # health of `revision`; None: not checked since it changed
    failure: str | None = None  # why the goal failed; kept after a successful remediation
    gave_up: bool = False  # a remediation step itself failed: nothing more to try
    changed: bool = False  # helm made a revision (or uninstalled) in this run
    open_action: int | None = None  # the ledger action that Verify completes (or a crash fails)
    open_made: bool = False  # helm answered for the open action: `revision` is what it made
    # Decrypted values (memory only) and the strings to mask in any message.
    decrypted: bytes | None = field(default=None, repr=False)
    secret_values: frozenset[str] = field(default_factory=frozenset, repr=False)
    # Progress, for the events and the result.
    phase: Phase = Phase.pending
    reason: str = ""
    started: float | None = None
    finished: float | None = None
    failed_at: float | None = None
    remediation_started: float | None = None
    steps: int = 0

    @property
    def id(self) -> str:
        return self.release.id

    @property
    def first_install(self) -> bool:
        return self.previous_good is None

    @property
    def to_revision(self) -> int | None:
        return self.revision


def standalone(
    release: Release, goal: Goal, *, helm_status: str | None = None, **state: object
) -> ReleaseRun:
    """A ReleaseRun outside a plan (manual rollback, unlock, recovery): its plan only names it."""
    plan = ReleasePlan(
        release.id,
        release.name,
        release.namespace,
        Action.noop,
        ReleaseStatus.deployed,
        None,
        None,
        "",
        needs=release.needs,
        helm_status=helm_status,
    )
    return ReleaseRun(release=release, plan=plan, goal=goal, **state)  # type: ignore[arg-type]


def from_plan(platform: Platform, plan: Plan, secrets: Mapping[str, bytes]) -> list[ReleaseRun]:
    """The ReleaseRuns of a deploy, one per planned release in the plan's order, with the decrypted
    values the plan was computed with (so what runs is what was planned)."""
    runs: list[ReleaseRun] = []
    for rp in plan.releases:
        decrypted = secrets.get(rp.release_id)
        if rp.status is ReleaseStatus.deployed and rp.live_revision is not None:
            previous_good: int | None = rp.live_revision
        elif rp.status is ReleaseStatus.absent:
            previous_good = None
        else:
            previous_good = rp.deployed_revision
        runs.append(
            ReleaseRun(
                release=platform.release(rp.release_id),
                plan=rp,
                previous_good=previous_good,
                locked=rp.action is Action.unlock,
                revision=rp.live_revision,
                decrypted=decrypted,
                secret_values=frozenset(secret_leaves(decrypted)) if decrypted else frozenset(),
            )
        )
    return runs
