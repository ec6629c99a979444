"""The ledger's tables as SQLAlchemy 2 typed ORM classes; migrations/ creates exactly these.

Times are UTC everywhere: `UTCDateTime` is `timestamptz` on PostgreSQL and an ISO-like text on SQLite,
and always hands back timezone-aware datetimes. Enumerated columns are plain strings guarded by CHECK
constraints, so adding a value is a small migration instead of an ALTER TYPE.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    false,
    text,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeEngine


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (naive input is refused: it is always a bug)."""

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.TIMESTAMP(timezone=True))
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given to the ledger; use datetime.now(UTC)")
        value = value.astimezone(UTC)
        # SQLite stores text: store naive UTC so that text order is time order and julianday() works.
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _one_of(column: str, values: tuple[str, ...], name: str) -> CheckConstraint:
    allowed = ", ".join(f"'{v}'" for v in values)
    return CheckConstraint(f"{column} IN ({allowed})", name=name)


RUN_KINDS = ("deploy", "rollback", "recover", "apply")
RUN_OUTCOMES = ("running", "succeeded", "failed", "rolled_back", "interrupted", "refused")
ACTION_KINDS = ("install", "upgrade", "unlock", "rollback", "uninstall", "noop")
ACTION_OUTCOMES = ("pending", "running", "succeeded", "failed", "rolled_back", "skipped", "interrupted")
SEVERITIES = ("P0", "P1", "P2", "P3")
INCIDENT_STATUSES = ("open", "acknowledged", "resolved")
INCIDENT_EVENT_KINDS = (
    "opened",
    "notified",
    "acknowledged",
    "escalated",
    "resolved",
    "root_cause",
    "comment",
)
NOTIFICATION_OUTCOMES = ("delivered", "failed")
APPROVAL_DECISIONS = ("approved", "rejected")
APPROVAL_METHODS = ("tty", "token", "ssh", "api")
TOKEN_ROLES = ("viewer", "deployer", "approver", "admin")
DRIFT_KINDS = ("repository", "live")


class Base(DeclarativeBase):
    pass


class Run(Base):
    __tablename__ = "runs"
    __table_args__ = (
        _one_of("kind", RUN_KINDS, "ck_runs_kind"),
        _one_of("outcome", RUN_OUTCOMES, "ck_runs_outcome"),
        # The DORA queries: successful/failed deploys of an environment in a time window.
        Index("ix_runs_env_kind_outcome_finished", "environment", "kind", "outcome", "finished_at"),
        Index("ix_runs_environment_finished", "environment", "finished_at"),
        Index("ix_runs_kind_finished", "kind", "finished_at"),
        Index("ix_runs_outcome", "outcome"),
        # Failed deployment recovery: failures grouped by the success that ended them, in index order.
        Index("ix_runs_restored", "environment", "restored_at", "finished_at"),
        # Deploy duration quantiles: each environment's deploys in duration order, so a quantile is an OFFSET.
        Index("ix_runs_duration", "environment", "kind", "duration_seconds", "outcome", "finished_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    environment: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(256))
    host: Mapped[str] = mapped_column(String(256))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    outcome: Mapped[str] = mapped_column(String(16))
    git_commit: Mapped[str | None] = mapped_column(String(64))
    plan_digest: Mapped[str | None] = mapped_column(String(64))
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    durations: Mapped[dict[str, float] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    # On a failed deploy: when the next successful deploy of the environment finished (set by finish_run).
    restored_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ReleaseAction(Base):
    __tablename__ = "release_actions"
    __table_args__ = (
        _one_of("action", ACTION_KINDS, "ck_release_actions_action"),
        _one_of("outcome", ACTION_OUTCOMES, "ck_release_actions_outcome"),
        Index("ix_release_actions_run", "run_id"),
        Index("ix_release_actions_release", "release_id", "started_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    release_id: Mapped[str] = mapped_column(String(256))
    action: Mapped[str] = mapped_column(String(16))
    from_revision: Mapped[int | None] = mapped_column(Integer)
    to_revision: Mapped[int | None] = mapped_column(Integer)
    chart_version: Mapped[str | None] = mapped_column(String(128))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    outcome: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    # sha256 of the merged values (secrets included) this install/upgrade applied: what a promotion
    # compares between environments. NULL for other actions and for actions recorded before 0003.
    values_digest: Mapped[str | None] = mapped_column(String(64))


class Event(Base):
    """The timeline of a run: one row per thing that happened, in order."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_run_ts", "run_id", "ts"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    release_id: Mapped[str | None] = mapped_column(String(256))
    ts: Mapped[datetime] = mapped_column(UTCDateTime())
    kind: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Plan(Base):
    __tablename__ = "plans"
    __table_args__ = (
        Index("ix_plans_id", "id"),
        Index("ix_plans_environment_created", "environment", "created_at"),
    )

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    id: Mapped[str] = mapped_column(String(12))
    environment: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    git_commit: Mapped[str | None] = mapped_column(String(64))
    requested_by: Mapped[str | None] = mapped_column(String(256))
    # The body's `has_changes`, as a column: pending plans are found without reading every body.
    has_changes: Mapped[bool] = mapped_column(Boolean, server_default=false())


class Approval(Base):
    """One decision on one plan: an approval, or a rejection (which vetoes every approval of the plan)."""

    __tablename__ = "approvals"
    __table_args__ = (
        _one_of("decision", APPROVAL_DECISIONS, "ck_approvals_decision"),
        _one_of("method", APPROVAL_METHODS, "ck_approvals_method"),
        Index("ix_approvals_plan", "plan_digest"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    plan_digest: Mapped[str] = mapped_column(ForeignKey("plans.digest", ondelete="CASCADE"))
    approver: Mapped[str] = mapped_column(String(256))
    approved_at: Mapped[datetime] = mapped_column(UTCDateTime())  # when the decision was given
    comment: Mapped[str | None] = mapped_column(Text)
    decision: Mapped[str] = mapped_column(String(8), server_default=text("'approved'"))
    reason: Mapped[str | None] = mapped_column(Text)
    method: Mapped[str | None] = mapped_column(String(8))  # NULL: given before 0003, or not said
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class EnvLock(Base):
    """At most one run changes an environment at a time; a lock whose holder stops heartbeating expires."""

    __tablename__ = "env_locks"

    environment: Mapped[str] = mapped_column(String(128), primary_key=True)
    run_id: Mapped[int] = mapped_column(Integer)
    holder: Mapped[str] = mapped_column(String(256))
    host: Mapped[str] = mapped_column(String(256))
    pid: Mapped[int] = mapped_column(Integer)
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Commit(Base):
    """A commit shipped by a run: recorded at run start as the commits since the last successful deploy."""

    __tablename__ = "commits"
    __table_args__ = (
        Index("ix_commits_run", "run_id", "sha", "committed_at"),
        Index("ix_commits_sha", "sha"),
        # Lead time: each environment's stamped commits in lead-time order, so a median is an OFFSET.
        Index("ix_commits_lead", "environment", "lead_seconds", "deployed_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    sha: Mapped[str] = mapped_column(String(64))
    committed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    author: Mapped[str] = mapped_column(String(256))
    summary: Mapped[str] = mapped_column(Text)
    # Set (by finish_run) only on the row of the first successful deploy of `environment` that shipped
    # this sha: when it finished and the lead time committed_at -> deployed_at. NULL on every other row.
    environment: Mapped[str | None] = mapped_column(String(128))
    deployed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    lead_seconds: Mapped[float | None] = mapped_column(Float)


class Incident(Base):
    __tablename__ = "incidents"
    __table_args__ = (
        _one_of("severity", SEVERITIES, "ck_incidents_severity"),
        _one_of("status", INCIDENT_STATUSES, "ck_incidents_status"),
        Index("ix_incidents_env_opened", "environment", "opened_at"),
        Index("ix_incidents_run", "run_id"),
        Index("ix_incidents_status", "status"),
        Index("ix_incidents_dedup", "dedup_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    environment: Mapped[str] = mapped_column(String(128))
    release_id: Mapped[str | None] = mapped_column(String(256))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    severity: Mapped[str] = mapped_column(String(2))
    status: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(Text)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    next_escalation_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    rca: Mapped[str | None] = mapped_column(Text)
    dedup_key: Mapped[str | None] = mapped_column(String(256))


class IncidentEvent(Base):
    __tablename__ = "incident_events"
    __table_args__ = (
        _one_of("kind", INCIDENT_EVENT_KINDS, "ck_incident_events_kind"),
        Index("ix_incident_events_incident", "incident_id", "ts"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    ts: Mapped[datetime] = mapped_column(UTCDateTime())
    kind: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str | None] = mapped_column(String(256))
    message: Mapped[str] = mapped_column(Text)


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (
        _one_of("outcome", NOTIFICATION_OUTCOMES, "ck_notifications_outcome"),
        Index("ix_notifications_incident", "incident_id"),
        Index("ix_notifications_run", "run_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ts: Mapped[datetime] = mapped_column(UTCDateTime())
    channel: Mapped[str] = mapped_column(String(128))
    event_kind: Mapped[str] = mapped_column(String(64))
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="SET NULL"))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    attempts: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(16))
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)


class SecretRotation(Base):
    __tablename__ = "secret_rotations"
    __table_args__ = (Index("ix_secret_rotations_component", "component", "ts"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ts: Mapped[datetime] = mapped_column(UTCDateTime())
    component: Mapped[str] = mapped_column(String(256))
    keys: Mapped[list[str]] = mapped_column(JSON)  # names only: values never reach the ledger
    actor: Mapped[str] = mapped_column(String(256))
    environment: Mapped[str | None] = mapped_column(String(128))


class ApiToken(Base):
    """A bearer token of the HTTP API. `id` is the token's public prefix; the secret is kept only as an
    argon2 hash."""

    __tablename__ = "api_tokens"
    __table_args__ = (
        _one_of("role", TOKEN_ROLES, "ck_api_tokens_role"),
        Index("ix_api_tokens_username", "username"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # "username", not "user": on PostgreSQL a bare `user` in hand-written SQL is the session's role.
    user: Mapped[str] = mapped_column("username", String(256))
    role: Mapped[str] = mapped_column(String(16))
    environments: Mapped[list[str]] = mapped_column(JSON)  # empty: every environment
    secret_hash: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(256))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AuditEntry(Base):
    """Who did what, from where: one row per operator action (approve, deploy, token.create, ...)."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_ts", "ts"),
        Index("ix_audit_log_actor", "actor", "id"),
        Index("ix_audit_log_action", "action", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ts: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(256))
    source: Mapped[str] = mapped_column(String(256))  # a client address, or "cli"
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(512))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class DriftFinding(Base):
    """One drift of a release, from its first sighting until a check finds it gone. At most one finding
    per (environment, release, kind) is open: a different drift closes the previous one."""

    __tablename__ = "drift_findings"
    __table_args__ = (
        _one_of("kind", DRIFT_KINDS, "ck_drift_findings_kind"),
        Index(
            "ux_drift_findings_open",
            "environment",
            "release_id",
            "kind",
            unique=True,
            sqlite_where=text("resolved_at IS NULL"),
            postgresql_where=text("resolved_at IS NULL"),
        ),
        Index("ix_drift_findings_release", "release_id", "id"),
        Index("ix_drift_findings_environment", "environment", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    environment: Mapped[str] = mapped_column(String(128))
    release_id: Mapped[str] = mapped_column(String(256))
    kind: Mapped[str] = mapped_column(String(16))
    fingerprint: Mapped[str] = mapped_column(String(64))
    findings: Mapped[Any] = mapped_column(JSON)  # objects and field paths, masked by the caller
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Lease(Base):
    """A named lease (e.g. the server's leader): held by one holder until it expires unrenewed."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    holder: Mapped[str] = mapped_column(String(256))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    renewed_at: Mapped[datetime] = mapped_column(UTCDateTime())
