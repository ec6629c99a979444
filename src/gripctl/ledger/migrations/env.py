"""Alembic environment for the ledger: migrations run on the connection `open_ledger` hands over."""

from __future__ import annotations

from alembic import context

from gripctl.ledger.schema import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
