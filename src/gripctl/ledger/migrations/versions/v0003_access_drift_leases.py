"""Records for the server and its operators: API tokens, the audit log, drift findings, leases; plus
rejections, approval methods and expiry, who requested a plan, and the values digest of an action.

- `api_tokens`, `audit_log`, `drift_findings`, `leases`: new tables.
- `approvals`: `decision` (approved | rejected; existing rows are approvals), `reason`, `method`
  (tty | token | ssh | api; NULL on existing rows, which did not record it), `expires_at`.
- `plans`: `requested_by`, and `has_changes` back-filled from each stored body's `has_changes`.
- `release_actions`: `values_digest` (NULL on existing rows: promotions count only digested actions).

Downgrading deletes rejections (0002 would read them as approvals) and the new tables.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _one_of(column: str, values: tuple[str, ...], name: str) -> sa.CheckConstraint:
    return sa.CheckConstraint(f"{column} IN ({', '.join(repr(v) for v in values)})", name=name)


plans = sa.table(
    "plans", sa.column("digest", sa.String), sa.column("body", sa.JSON), sa.column("has_changes", sa.Boolean)
)
approvals = sa.table("approvals", sa.column("decision", sa.String))


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("username", sa.String(256), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("environments", sa.JSON, nullable=False),
        sa.Column("secret_hash", sa.String(256), nullable=False),
        _ts("created_at", nullable=False),
        sa.Column("created_by", sa.String(256), nullable=False),
        _ts("expires_at"),
        _ts("revoked_at"),
        _ts("last_used_at"),
        _one_of("role", ("viewer", "deployer", "approver", "admin"), "ck_api_tokens_role"),
    )
    op.create_index("ix_api_tokens_username", "api_tokens", ["username"])

    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _ts("ts", nullable=False),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("source", sa.String(256), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(512)),
        sa.Column("detail", sa.JSON),
    )
    op.create_index("ix_audit_log_ts", "audit_log", ["ts"])
    op.create_index("ix_audit_log_actor", "audit_log", ["actor", "id"])
    op.create_index("ix_audit_log_action", "audit_log", ["action", "id"])

    op.create_table(
        "drift_findings",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("environment", sa.String(128), nullable=False),
        sa.Column("release_id", sa.String(256), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("findings", sa.JSON, nullable=False),
        _ts("first_seen", nullable=False),
        _ts("last_seen", nullable=False),
        _ts("resolved_at"),
        _one_of("kind", ("repository", "live"), "ck_drift_findings_kind"),
    )
    op.create_index(
        "ux_drift_findings_open",
        "drift_findings",
        ["environment", "release_id", "kind"],
        unique=True,
        sqlite_where=sa.text("resolved_at IS NULL"),
        postgresql_where=sa.text("resolved_at IS NULL"),
    )
    op.create_index("ix_drift_findings_release", "drift_findings", ["release_id", "id"])
    op.create_index("ix_drift_findings_environment", "drift_findings", ["environment", "id"])

    op.create_table(
        "leases",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("holder", sa.String(256), nullable=False),
        _ts("expires_at", nullable=False),
        _ts("renewed_at", nullable=False),
    )

    # Batch mode re-creates `approvals` on SQLite to add its CHECK constraints; no table refers to it,
    # so dropping the old copy cascades nowhere.
    with op.batch_alter_table("approvals") as batch:
        batch.add_column(sa.Column("decision", sa.String(8), nullable=False, server_default="approved"))
        batch.add_column(sa.Column("reason", sa.Text))
        batch.add_column(sa.Column("method", sa.String(8)))
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True)))
        batch.create_check_constraint("ck_approvals_decision", "decision IN ('approved', 'rejected')")
        batch.create_check_constraint("ck_approvals_method", "method IN ('tty', 'token', 'ssh', 'api')")
    # Plain ADD COLUMN, not batch mode: re-creating `plans` on SQLite drops the old copy, and with it
    # (foreign_keys=ON, ON DELETE CASCADE) every approval.
    op.add_column("plans", sa.Column("requested_by", sa.String(256)))
    op.add_column("plans", sa.Column("has_changes", sa.Boolean, nullable=False, server_default=sa.false()))
    op.add_column("release_actions", sa.Column("values_digest", sa.String(64)))
    _backfill_has_changes()


def _backfill_has_changes() -> None:
    conn = op.get_bind()
    changed = [
        {"d": digest}
        for digest, body in conn.execute(sa.select(plans.c.digest, plans.c.body))
        if isinstance(body, dict) and body.get("has_changes") is True
    ]
    update = sa.update(plans).where(plans.c.digest == sa.bindparam("d")).values(has_changes=True)
    for start in range(0, len(changed), 10_000):
        conn.execute(update, changed[start : start + 10_000])


def downgrade() -> None:
    op.drop_column("release_actions", "values_digest")
    op.drop_column("plans", "has_changes")
    op.drop_column("plans", "requested_by")
    # 0002 has no rejections: a rejection kept as a row would read there as an approval of the plan.
    op.execute(sa.delete(approvals).where(approvals.c.decision == "rejected"))
    with op.batch_alter_table("approvals") as batch:
        batch.drop_constraint("ck_approvals_method", type_="check")
        batch.drop_constraint("ck_approvals_decision", type_="check")
        batch.drop_column("expires_at")
        batch.drop_column("method")
        batch.drop_column("reason")
        batch.drop_column("decision")
    op.drop_table("leases")
    op.drop_index("ux_drift_findings_open", "drift_findings")
    op.drop_table("drift_findings")
    op.drop_table("audit_log")
    op.drop_table("api_tokens")
