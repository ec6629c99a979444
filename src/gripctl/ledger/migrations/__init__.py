"""Alembic migrations of the ledger schema (versions/), run by gripctl.ledger.store on open."""

# The newest revision in versions/. Opening a ledger that is already there skips alembic altogether;
# tests/ledger/test_ledger_open.py fails when a new migration is added without moving this.
HEAD = "0003"
