"""The initial ledger schema: every table of the ledger, with the indexes the metrics need.

Written by hand (not create_all) so that this revision stays what it was when later revisions change
the models. `tests/ledger/test_ledger_open.py` checks that head matches `gripctl.ledger.schema`.

Revision ID: 0001
Revises:
Create Date: 2026-05-20
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _one_of(column: str, values: tuple[str, ...], name: str) -> sa.CheckConstraint:
    return sa.CheckConstraint(f"{column} IN ({', '.join(repr(v) for v in values)})", name=name)


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("environment", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("host", sa.String(256), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        _ts("started_at", nullable=False),
        _ts("finished_at"),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("git_commit", sa.String(64)),
        sa.Column("plan_digest", sa.String(64)),
        sa.Column("duration_seconds", sa.Float),
        sa.Column("durations", sa.JSON),
        sa.Column("error", sa.Text),
        _one_of("kind", ("deploy", "rollback", "recover", "apply"), "ck_runs_kind"),
        _one_of(
            "outcome",
            ("running", "succeeded", "failed", "rolled_back", "interrupted", "refused"),
            "ck_runs_outcome",
        ),
    )
    op.create_index(
        "ix_runs_env_kind_outcome_finished", "runs", ["environment", "kind", "outcome", "finished_at"]
    )
    op.create_index("ix_runs_environment_finished", "runs", ["environment", "finished_at"])
    op.create_index("ix_runs_kind_finished", "runs", ["kind", "finished_at"])
    op.create_index("ix_runs_outcome", "runs", ["outcome"])

    op.create_table(
        "release_actions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("release_id", sa.String(256), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("from_revision", sa.Integer),
        sa.Column("to_revision", sa.Integer),
        sa.Column("chart_version", sa.String(128)),
        _ts("started_at", nullable=False),
        _ts("finished_at"),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("error", sa.Text),
        _one_of(
            "action",
            ("install", "upgrade", "unlock", "rollback", "uninstall", "noop"),
            "ck_release_actions_action",
        ),
        _one_of(
            "outcome",
            ("pending", "running", "succeeded", "failed", "rolled_back", "skipped", "interrupted"),
            "ck_release_actions_outcome",
        ),
    )
    op.create_index("ix_release_actions_run", "release_actions", ["run_id"])
    op.create_index("ix_release_actions_release", "release_actions", ["release_id", "started_at"])

    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("release_id", sa.String(256)),
        _ts("ts", nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("data", sa.JSON),
    )
    op.create_index("ix_events_run_ts", "events", ["run_id", "ts"])

    op.create_table(
        "plans",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("id", sa.String(12), nullable=False),
        sa.Column("environment", sa.String(128), nullable=False),
        _ts("created_at", nullable=False),
        sa.Column("body", sa.JSON, nullable=False),
        sa.Column("git_commit", sa.String(64)),
    )
    op.create_index("ix_plans_id", "plans", ["id"])
    op.create_index("ix_plans_environment_created", "plans", ["environment", "created_at"])

    op.create_table(
        "approvals",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "plan_digest", sa.String(64), sa.ForeignKey("plans.digest", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("approver", sa.String(256), nullable=False),
        _ts("approved_at", nullable=False),
        sa.Column("comment", sa.Text),
    )
    op.create_index("ix_approvals_plan", "approvals", ["plan_digest"])

    op.create_table(
        "env_locks",
        sa.Column("environment", sa.String(128), primary_key=True),
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.Column("holder", sa.String(256), nullable=False),
        sa.Column("host", sa.String(256), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        _ts("acquired_at", nullable=False),
        _ts("heartbeat_at", nullable=False),
        _ts("expires_at", nullable=False),
    )

    op.create_table(
        "commits",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("sha", sa.String(64), nullable=False),
        _ts("committed_at", nullable=False),
        sa.Column("author", sa.String(256), nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
    )
    op.create_index("ix_commits_run", "commits", ["run_id", "sha", "committed_at"])
    op.create_index("ix_commits_sha", "commits", ["sha"])

    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("environment", sa.String(128), nullable=False),
        sa.Column("release_id", sa.String(256)),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id", ondelete="SET NULL")),
        sa.Column("severity", sa.String(2), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        _ts("opened_at", nullable=False),
        _ts("acknowledged_at"),
        _ts("resolved_at"),
        sa.Column("escalation_level", sa.Integer, nullable=False),
        _ts("next_escalation_at"),
        sa.Column("rca", sa.Text),
        sa.Column("dedup_key", sa.String(256)),
        _one_of("severity", ("P0", "P1", "P2", "P3"), "ck_incidents_severity"),
        _one_of("status", ("open", "acknowledged", "resolved"), "ck_incidents_status"),
    )
    op.create_index("ix_incidents_env_opened", "incidents", ["environment", "opened_at"])
    op.create_index("ix_incidents_run", "incidents", ["run_id"])
    op.create_index("ix_incidents_status", "incidents", ["status"])
    op.create_index("ix_incidents_dedup", "incidents", ["dedup_key"])

    op.create_table(
        "incident_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "incident_id", sa.Integer, sa.ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False
        ),
        _ts("ts", nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(256)),
        sa.Column("message", sa.Text, nullable=False),
        _one_of(
            "kind",
            ("opened", "notified", "acknowledged", "escalated", "resolved", "root_cause", "comment"),
            "ck_incident_events_kind",
        ),
    )
    op.create_index("ix_incident_events_incident", "incident_events", ["incident_id", "ts"])

    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _ts("ts", nullable=False),
        sa.Column("channel", sa.String(128), nullable=False),
        sa.Column("event_kind", sa.String(64), nullable=False),
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id", ondelete="SET NULL")),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id", ondelete="SET NULL")),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("status_code", sa.Integer),
        sa.Column("error", sa.Text),
        _one_of("outcome", ("delivered", "failed"), "ck_notifications_outcome"),
    )
    op.create_index("ix_notifications_incident", "notifications", ["incident_id"])
    op.create_index("ix_notifications_run", "notifications", ["run_id"])

    op.create_table(
        "secret_rotations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _ts("ts", nullable=False),
        sa.Column("component", sa.String(256), nullable=False),
        sa.Column("keys", sa.JSON, nullable=False),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("environment", sa.String(128)),
    )
    op.create_index("ix_secret_rotations_component", "secret_rotations", ["component", "ts"])


def downgrade() -> None:
    for table in (
        "secret_rotations",
        "notifications",
        "incident_events",
        "incidents",
        "commits",
        "env_locks",
        "approvals",
        "plans",
        "events",
        "release_actions",
        "runs",
    ):
        op.drop_table(table)
