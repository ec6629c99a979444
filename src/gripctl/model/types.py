"""The platform as typed data: what gripctl.yaml and the ops/ tree describe, after loading.

These types are the contract between the model (which builds them from files) and every other
room (plan, engine, validate, secrets, ledger). They hold no I/O and no behaviour beyond lookups.
The file format is documented in docs/config.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from gripctl.errors import Location, UsageError


class Remediation(StrEnum):
    """What to do with a release whose deploy failed verification."""

    rollback = "rollback"  # helm rollback to the last good revision; a failed first install is uninstalled
    uninstall = "uninstall"
    none = "none"


class Approval(StrEnum):
    none = "none"
    required = "required"


@dataclass(frozen=True)
class HttpCheck:
    """An HTTP health check run after a release is rolled out (`/health`, `/ready` style)."""

    url: str
    expect_status: int = 200
    timeout_seconds: float = 5.0


class OnUnreachable(StrEnum):
    """What verification does when the environment's Prometheus does not answer."""

    fail = "fail"  # the health check fails (and the release is remediated like any failed check)
    warn = "warn"  # the check is skipped with a warning


@dataclass(frozen=True)
class PrometheusSettings:
    """An environment's Prometheus: where health queries are sent (`environments.<env>.prometheus`)."""

    url: str
    on_unreachable: OnUnreachable = OnUnreachable.fail
    timeout_seconds: float = 5.0


@dataclass(frozen=True)
class PrometheusCheck:
    """A health query with a threshold: breached when its value is above `max` (or below `min`) for
    `for_seconds` on end. `${namespace}`, `${release}` and `${id}` are already substituted."""

    query: str
    max: float | None = None
    min: float | None = None
    for_seconds: float = 0.0
    name: str = ""  # optional label for messages; the query is shown when empty
    location: Location | None = None  # where it is declared, for messages

    @property
    def label(self) -> str:
        return self.name or self.query


@dataclass(frozen=True)
class DriftTarget:
    """Which live objects a drift ignore rule applies to; an unset field matches every object.

    `kind`, `name` and `namespace` are shell-style globs (`*`, `?`, `[a-z]`); `labels` must all match.
    """

    kind: str | None = None
    name: str | None = None
    namespace: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return self.kind is None and self.name is None and self.namespace is None and not self.labels


@dataclass(frozen=True)
class DriftIgnoreRule:
    """Differences that are not drift (docs/drift.md): fields at `paths` (JSON pointers, `*` matching
    any one segment, `""` the whole object), or fields owned by one of `managers` (field managers in
    the live object's managedFields), in objects that match `target`."""

    paths: tuple[str, ...] = ()
    managers: tuple[str, ...] = ()
    target: DriftTarget = field(default_factory=DriftTarget)
    reason: str = ""
    release: str | None = None  # the release it is declared under; None for the global `drift:`
    location: Location | None = None


@dataclass(frozen=True)
class SecretsSource:
    """A SOPS-encrypted values file that belongs to a release; decrypted in memory only."""

    path: Path  # e.g. ops/secrets/010-cert-manager-secrets/values.sops.yaml


@dataclass(frozen=True)
class Release:
    """One Helm release of the platform, in one environment's terms.

    `id` is the folder name (`010-cert-manager`) and is what `needs`, `--only` and the ledger use.
    `name` is the Helm release name (`cert-manager` by default: the id without its number).
    """

    id: str
    name: str
    namespace: str
    chart_path: Path  # absolute path of the chart folder
    order: int  # the NNN prefix; orders display and breaks ties
    needs: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    # Values files in layering order, lowest first: chart values.yaml is implicit (helm applies it),
    # then environment values, then per-release environment values.
    values_files: tuple[Path, ...] = ()
    # Decrypted secrets come after values_files, --set after everything.
    secrets: tuple[SecretsSource, ...] = ()
    set_values: dict[str, str] = field(default_factory=dict)
    secrets_for: str | None = None  # set on a NNN-name-secrets release: the id of the release it serves
    timeout_seconds: int = 300
    remediation: Remediation = Remediation.rollback
    http_checks: tuple[HttpCheck, ...] = ()
    create_namespace: bool = True
    # The environment's default applies when the release declares no `health.prometheus` of its own.
    prometheus_checks: tuple[PrometheusCheck, ...] = ()
    drift_ignore: tuple[DriftIgnoreRule, ...] = ()  # the release's own rules; Platform has the global ones


@dataclass(frozen=True)
class Environment:
    name: str
    context: str | None  # kubeconfig context; None = the current context
    kubeconfig: Path | None = None
    deploy: str = "manual"  # auto | manual: whether the automatic entry (`deploy --auto`, CI) may deploy it
    # The environment whose successful deploys of the same chart version and values this one requires
    # first (`promote_from: staging` on production); None: no such rule.
    promote_from: str | None = None
    approval: Approval = Approval.none
    approvers: tuple[str, ...] = ()
    values_files: tuple[Path, ...] = ()  # environment-wide values, applied to every release
    monitor_seconds: float = 0.0  # post-deploy monitoring window
    concurrency: int = 4
    prometheus: PrometheusSettings | None = None
    prometheus_checks: tuple[PrometheusCheck, ...] = ()  # default `health.prometheus` of every release
    approval_expiry_seconds: float = 24 * 3600.0  # an approval counts this long after it was given
    four_eyes: bool = True  # with approval: required, whoever requested a plan may not approve it


@dataclass(frozen=True)
class Platform:
    """The whole platform for one environment: releases already resolved for `environment`."""

    root: Path
    config_path: Path
    environment: Environment
    environments: dict[str, Environment]
    releases: dict[str, Release]  # id -> release, in `order` order
    raw: dict[str, object] = field(default_factory=dict)  # the parsed gripctl.yaml, for other rooms
    # Where each key of gripctl.yaml sits, by key path ("releases.020-cluster-issuers.needs[0]"), so
    # that other rooms (validate, policies) can point at the line too. Empty for hand-built platforms.
    locations: dict[str, Location] = field(default_factory=dict)
    drift_ignore: tuple[DriftIgnoreRule, ...] = ()  # the global `drift.ignore` rules
    # `approvals.allowed_signers`: the SSH allowed-signers file (as git's gpg.ssh.allowedSignersFile)
    # that command-line approvals signed with `ssh-keygen -Y sign` are verified against.
    allowed_signers: Path | None = None
    server_url: str | None = None  # `server.url`: the dashboard's public address, for links

    def drift_rules(self, release_id: str) -> tuple[DriftIgnoreRule, ...]:
        """The ignore rules that apply to one release: the global ones, then the release's own."""
        return (*self.drift_ignore, *self.release(release_id).drift_ignore)

    def release(self, release_id: str) -> Release:
        try:
            return self.releases[release_id]
        except KeyError:
            known = ", ".join(self.releases) or "(none)"
            raise UsageError(
                f"no release named {release_id!r} in {self.config_path.name}",
                hint=f"known releases: {known}",
            ) from None
