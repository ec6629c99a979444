"""The pure choice of a release's next action in a run, from what the run knows about it.

Flux helm-controller's shape (`atomic_release.go`): look at the release's state, pick the one next
action for that state, run it, look again — until there is nothing left to do. `next_action` is that
choice. It reads only the `ReleaseRun` (the goal of the run for this release and what the actions
reported so far) and returns an action object, or None when the release is done. The actions in
`engine/actions.py` do the work and update the `ReleaseRun`; the runner only loops.

    locked (pending-*)                        -> Unlock (roll back to the last good revision, or uninstall)
    goal deploy,   not applied yet             -> Install (first install) or Upgrade
                   applied, not verified       -> Verify (with the monitoring window)
                   failed, changed something   -> remediate by the release's policy (below)
    goal revision, not rolled back yet         -> Rollback to that revision, then Verify
    goal restore                               -> back to the revision from before the run (below)
    goal check,    not verified                -> Verify what an interrupted run left; restore if unhealthy

    restore: nothing ran before the run        -> Uninstall
             otherwise                         -> Rollback to it, then Verify
"""

from __future__ import annotations

from gripctl.engine.actions import Action, Install, Rollback, Uninstall, Unlock, Upgrade, Verify
from gripctl.engine.release import Goal, ReleaseRun
from gripctl.model.types import Remediation


def next_action(rr: ReleaseRun, *, monitor_seconds: float = 0.0) -> Action | None:
    """The one next action for `rr`, or None when it is done (see the module docstring)."""
    if rr.gave_up:
        return None
    if rr.locked:
        return Unlock()
    if rr.goal is Goal.unlock:
        return None
    if rr.goal is Goal.deploy:
        if rr.failure is None:
            if not rr.applied:
                return Install() if rr.first_install else Upgrade()
            if rr.verified is None:
                return Verify(monitor_seconds)
            return None
        if not rr.changed or rr.release.remediation is Remediation.none:
            return None
        return _restore(rr)
    if rr.goal is Goal.revision:
        if not rr.applied:
            assert rr.target_revision is not None, "a revision goal names its revision"
            return Rollback(rr.target_revision)
        return Verify(0.0) if rr.verified is None else None
    if rr.goal is Goal.check:
        if rr.verified is None and not rr.restored and not rr.uninstalled:
            return Verify(0.0) if rr.revision is not None else None
        if rr.failure is None:
            return None
    return _restore(rr)


def _restore(rr: ReleaseRun) -> Action | None:
    """Back to the revision from before the run: a rollback verified, or an uninstall of a first install."""
    if rr.previous_good is None:
        return None if rr.uninstalled or rr.revision is None else Uninstall()
    if not rr.restored:
        return Rollback(rr.previous_good)
    return Verify(0.0) if rr.verified is None else None
