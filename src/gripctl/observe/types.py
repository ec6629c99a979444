"""What observe/ hands to plan/: the live state and the desired render of each release, as plain data.

Secret material (live user values, decrypted merged values, secret leaf values) is kept in these
objects in memory only, marked `repr=False`, and never serialised: plan/ uses it to compare and to
mask, and copies only digests and masked text into a Plan.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class ReleaseStatus(StrEnum):
    """What the cluster says about a release (observe/), Helm's status mapped to what we act on."""

    absent = "absent"  # never installed (or uninstalled)
    deployed = "deployed"
    failed = "failed"
    locked = "locked"  # pending-install / pending-upgrade / pending-rollback: a helm op was interrupted
    superseded = "superseded"
    uninstalling = "uninstalling"
    unknown = "unknown"


@dataclass(frozen=True)
class ObservedRelease:
    """One Helm release as the cluster has it right now."""

    release_id: str
    helm_name: str
    namespace: str
    status: ReleaseStatus
    helm_status: str | None = None  # Helm's own word: deployed, failed, pending-upgrade, ...
    revision: int | None = None  # the latest revision, whatever its status
    deployed_revision: int | None = None  # the last revision that was deployed: the unlock/rollback target
    manifest_revision: int | None = None  # the revision `manifest` and `values` were read from
    chart: str | None = None  # name-version as helm reports it
    chart_version: str | None = None
    updated: str | None = None
    description: str = ""
    helm_running: bool = False  # locked, and a helm process on this host is operating on it right now
    manifest: str = ""
    values: Mapping[str, Any] = field(default_factory=dict, repr=False)  # user values: may hold secrets

    @property
    def exists(self) -> bool:
        return self.status is not ReleaseStatus.absent


@dataclass(frozen=True)
class DesiredRelease:
    """One release as the repository wants it: `helm template` output plus what it was made from."""

    release_id: str
    manifest: str
    chart_name: str
    chart_version: str
    values_digest: str  # sha256 of the merged user values (canonical JSON); the values are not kept
    values: Mapping[str, Any] = field(default_factory=dict, repr=False)  # merged user values (secrets!)
    secret_values: frozenset[str] = field(default_factory=frozenset, repr=False)  # leaf values to mask
    secret_paths: frozenset[str] = field(default_factory=frozenset)  # dotted key paths holding secrets
    inputs: Mapping[str, str] = field(default_factory=dict)  # input name -> sha256 (chart, files, secrets)
    # The decrypted secrets this render used, in memory only (never serialised): the deploy hands
    # exactly these to helm, so what runs is what was planned, and sops runs once per release.
    decrypted: bytes | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class Snapshot:
    """Observation + desired render for a selection of releases in one environment, at one moment."""

    environment: str
    context: str | None
    observed: Mapping[str, ObservedRelease]
    desired: Mapping[str, DesiredRelease]
    inputs: Mapping[str, str] = field(default_factory=dict)  # platform-wide inputs (gripctl.yaml, ...)
    kube_version: str | None = None
    git_commit: str | None = None
    undecryptable: Mapping[str, str] = field(default_factory=dict)  # release id -> why it was not rendered
