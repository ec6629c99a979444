"""DORA stamps written when a deploy finishes, so that the metrics read one indexed column per key.

- `commits.environment`, `commits.deployed_at`, `commits.lead_seconds`: set on the row of the first
  successful deploy of its environment that shipped the commit (the lead time's "first successful
  deploy"); NULL on every other row (failed attempts, re-shipped shas).
- `runs.restored_at`: on a failed deploy, when the next successful deploy of its environment finished
  (the failed deployment recovery time); NULL while not recovered, and on every other run.
- Indexes that hand those columns (and `runs.duration_seconds`) over in value order, per environment.

Existing history is back-filled with the same rules as `Ledger.finish_run`.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FAILED = ("failed", "rolled_back", "interrupted")

runs = sa.table(
    "runs",
    sa.column("id", sa.Integer),
    sa.column("environment", sa.String),
    sa.column("kind", sa.String),
    sa.column("outcome", sa.String),
    sa.column("finished_at", sa.DateTime(timezone=True)),
    sa.column("restored_at", sa.DateTime(timezone=True)),
)
commits = sa.table(
    "commits",
    sa.column("id", sa.Integer),
    sa.column("run_id", sa.Integer),
    sa.column("sha", sa.String),
    sa.column("committed_at", sa.DateTime(timezone=True)),
    sa.column("environment", sa.String),
    sa.column("deployed_at", sa.DateTime(timezone=True)),
    sa.column("lead_seconds", sa.Float),
)


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("restored_at", sa.DateTime(timezone=True)))
    with op.batch_alter_table("commits") as batch:
        batch.add_column(sa.Column("environment", sa.String(128)))
        batch.add_column(sa.Column("deployed_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("lead_seconds", sa.Float))
    op.create_index("ix_runs_restored", "runs", ["environment", "restored_at", "finished_at"])
    op.create_index("ix_commits_lead", "commits", ["environment", "lead_seconds", "deployed_at"])
    op.create_index(
        "ix_runs_duration", "runs", ["environment", "kind", "duration_seconds", "outcome", "finished_at"]
    )
    _backfill()


def _aware(value: datetime) -> datetime:
    # SQLite hands the stored naive-UTC text back naive; PostgreSQL gives timestamptz.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _backfill() -> None:
    conn = op.get_bind()
    ok = runs.alias("ok")
    next_success = (
        sa.select(sa.func.min(ok.c.finished_at))
        .where(
            ok.c.environment == runs.c.environment,
            ok.c.kind == "deploy",
            ok.c.outcome == "succeeded",
            # After it in (finished_at, id) order; the >= alone gives the index a range to seek.
            ok.c.finished_at >= runs.c.finished_at,
            sa.or_(ok.c.finished_at > runs.c.finished_at, ok.c.id > runs.c.id),
        )
        .scalar_subquery()
    )
    conn.execute(
        sa.update(runs)
        .where(runs.c.kind == "deploy", runs.c.outcome.in_(FAILED), runs.c.finished_at.is_not(None))
        .values(restored_at=next_success)
    )
    shipped = (
        sa.select(commits.c.id, commits.c.sha, commits.c.committed_at, runs.c.environment, runs.c.finished_at)
        .join_from(commits, runs, runs.c.id == commits.c.run_id)
        .where(runs.c.kind == "deploy", runs.c.outcome == "succeeded", runs.c.finished_at.is_not(None))
        .order_by(runs.c.finished_at, runs.c.id, commits.c.committed_at, commits.c.id)
    )
    seen: set[tuple[str, str]] = set()
    stamps: list[dict[str, object]] = []
    for cid, sha, committed_at, env, finished_at in conn.execute(shipped).all():
        if (env, sha) in seen:
            continue
        seen.add((env, sha))
        lead = (_aware(finished_at) - _aware(committed_at)).total_seconds()
        stamps.append({"cid": cid, "env": env, "at": finished_at, "lead": lead})
    update = (
        sa.update(commits)
        .where(commits.c.id == sa.bindparam("cid"))
        .values(
            environment=sa.bindparam("env"), deployed_at=sa.bindparam("at"), lead_seconds=sa.bindparam("lead")
        )
    )
    for start in range(0, len(stamps), 10_000):
        conn.execute(update, stamps[start : start + 10_000])


def downgrade() -> None:
    op.drop_index("ix_runs_duration", "runs")
    op.drop_index("ix_commits_lead", "commits")
    op.drop_index("ix_runs_restored", "runs")
    # Plain ALTER TABLE DROP COLUMN (SQLite >= 3.35), not batch mode: batch would re-create `runs`, and
    # dropping the old `runs` cascades (foreign_keys=ON) to every commit, event and action.
    for table, column in (
        ("commits", "lead_seconds"),
        ("commits", "deployed_at"),
        ("commits", "environment"),
        ("runs", "restored_at"),
    ):
        op.drop_column(table, column)
