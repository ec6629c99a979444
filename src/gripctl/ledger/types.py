"""The ledger's vocabulary and the frozen records it returns (never ORM objects: no session leaks)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class RunKind(StrEnum):
    deploy = "deploy"
    rollback = "rollback"
    recover = "recover"
    apply = "apply"


class RunOutcome(StrEnum):
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    rolled_back = "rolled_back"
    interrupted = "interrupted"  # the process died or lost its lock; found by interrupted_runs()
    refused = "refused"  # never started changing anything (lock held, approval missing, stale plan)


class ActionKind(StrEnum):
    install = "install"
    upgrade = "upgrade"
    unlock = "unlock"
    rollback = "rollback"
    uninstall = "uninstall"
    noop = "noop"


class ActionOutcome(StrEnum):
    pending = "pending"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    rolled_back = "rolled_back"
    skipped = "skipped"
    interrupted = "interrupted"


class Severity(StrEnum):
    P0 = "P0"
    P1 = "P1"
    P2 = "P2"
    P3 = "P3"


class IncidentStatus(StrEnum):
    open = "open"
    acknowledged = "acknowledged"
    resolved = "resolved"


class IncidentEventKind(StrEnum):
    opened = "opened"
    notified = "notified"
    acknowledged = "acknowledged"
    escalated = "escalated"
    resolved = "resolved"
    root_cause = "root_cause"
    comment = "comment"


class NotificationOutcome(StrEnum):
    delivered = "delivered"
    failed = "failed"


class ApprovalDecision(StrEnum):
    approved = "approved"
    rejected = "rejected"  # a veto: no approval of the plan counts any more


class ApprovalMethod(StrEnum):
    """How the approver proved who they are."""

    tty = "tty"  # at a terminal, as the local user
    token = "token"  # an API token
    ssh = "ssh"  # an SSH key
    api = "api"  # the HTTP API by another authentication


class TokenRole(StrEnum):
    viewer = "viewer"
    deployer = "deployer"
    approver = "approver"
    admin = "admin"


class DriftKind(StrEnum):
    repository = "repository"  # the repository's desired release vs the helm release
    live = "live"  # the helm release's manifest vs the live objects


class _Record:
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload, no-any-return]


@dataclass(frozen=True)
class ActionRecord(_Record):
    id: int
    run_id: int
    release_id: str
    action: ActionKind
    from_revision: int | None
    to_revision: int | None
    chart_version: str | None
    started_at: datetime
    finished_at: datetime | None
    outcome: ActionOutcome
    error: str | None
    values_digest: str | None = None


@dataclass(frozen=True)
class EventRecord(_Record):
    id: int
    run_id: int
    release_id: str | None
    ts: datetime
    kind: str
    message: str
    data: dict[str, Any] | None


@dataclass(frozen=True)
class RunRecord(_Record):
    id: int
    environment: str
    kind: RunKind
    actor: str
    host: str
    pid: int
    started_at: datetime
    finished_at: datetime | None
    outcome: RunOutcome
    git_commit: str | None
    plan_digest: str | None
    duration_seconds: float | None
    durations: dict[str, float] | None  # phase name -> seconds (plan, deploy, verify, monitor, ...)
    error: str | None
    actions: tuple[ActionRecord, ...] = ()  # filled by Ledger.run(), empty in Ledger.runs()
    events: tuple[EventRecord, ...] = ()


@dataclass(frozen=True)
class PlanRecord(_Record):
    digest: str
    id: str
    environment: str
    created_at: datetime
    body: dict[str, Any]
    git_commit: str | None
    requested_by: str | None = None
    has_changes: bool = False


PLAN_ID_LENGTH = 12  # a plan's id is the first digits of its digest


@dataclass(frozen=True)
class ApprovalRecord(_Record):
    """One decision on a plan. `approved_at` is when it was given, rejections included."""

    id: int
    plan_digest: str
    approver: str
    approved_at: datetime
    comment: str | None
    decision: ApprovalDecision = ApprovalDecision.approved
    reason: str | None = None
    method: ApprovalMethod | None = None
    expires_at: datetime | None = None

    @property
    def plan_id(self) -> str:
        return self.plan_digest[:PLAN_ID_LENGTH]


@dataclass(frozen=True)
class EnvLockRecord(_Record):
    environment: str
    run_id: int
    holder: str
    host: str
    pid: int
    acquired_at: datetime
    heartbeat_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class CommitInfo(_Record):
    """One commit of the platform repository, for lead time (what `gripctl.ledger.git` reads)."""

    sha: str
    committed_at: datetime
    author: str
    summary: str


@dataclass(frozen=True)
class IncidentEventRecord(_Record):
    id: int
    incident_id: int
    ts: datetime
    kind: IncidentEventKind
    actor: str | None
    message: str


@dataclass(frozen=True)
class IncidentRecord(_Record):
    id: int
    environment: str
    release_id: str | None
    run_id: int | None
    severity: Severity
    status: IncidentStatus
    title: str
    opened_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    escalation_level: int
    next_escalation_at: datetime | None
    rca: str | None
    dedup_key: str | None
    events: tuple[IncidentEventRecord, ...] = ()  # filled by Ledger.incident(), empty in Ledger.incidents()


@dataclass(frozen=True)
class NotificationRecord(_Record):
    id: int
    ts: datetime
    channel: str
    event_kind: str
    incident_id: int | None
    run_id: int | None
    attempts: int
    outcome: NotificationOutcome
    status_code: int | None
    error: str | None


@dataclass(frozen=True)
class SecretRotationRecord(_Record):
    id: int
    ts: datetime
    component: str
    keys: tuple[str, ...]  # key names only, never values
    actor: str
    environment: str | None


@dataclass(frozen=True)
class ApiTokenRecord(_Record):
    """An API token as the ledger keeps it: never the secret, nor its hash."""

    id: str
    user: str
    role: TokenRole
    environments: tuple[str, ...]  # empty: every environment
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    def covers(self, environment: str) -> bool:
        return not self.environments or environment in self.environments


@dataclass(frozen=True)
class AuditRecord(_Record):
    id: int
    ts: datetime
    actor: str
    source: str  # the client's address, or "cli"
    action: str  # approve, reject, deploy, rollback, incident.ack, token.create, ...
    target: str | None
    detail: dict[str, Any] | None


@dataclass(frozen=True)
class DriftRecord(_Record):
    id: int
    environment: str
    release_id: str
    kind: DriftKind
    fingerprint: str  # sha256 of the finding: the same drift seen again has the same fingerprint
    findings: Any  # objects and field paths, masked by the caller
    first_seen: datetime
    last_seen: datetime
    resolved_at: datetime | None


@dataclass(frozen=True)
class LeaseRecord(_Record):
    name: str
    holder: str
    expires_at: datetime
    renewed_at: datetime
