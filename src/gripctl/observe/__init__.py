"""Observe: reads the live world (helm releases, cluster objects) and never changes it."""

from gripctl.observe.cluster import check_cluster
from gripctl.observe.release import observe_release
from gripctl.observe.render import render_desired
from gripctl.observe.snapshot import git_commit, snapshot, target_for
from gripctl.observe.types import DesiredRelease, ObservedRelease, Snapshot

__all__ = [
    "DesiredRelease",
    "ObservedRelease",
    "Snapshot",
    "check_cluster",
    "git_commit",
    "observe_release",
    "render_desired",
    "snapshot",
    "target_for",
]
