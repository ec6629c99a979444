"""Each test here runs on SQLite and on PostgreSQL: the fixtures live in tests/ledger_fixtures.py."""

from ledger_fixtures import backend, clock, ledger

__all__ = ["backend", "clock", "ledger"]
