"""Throwaway ledgers for tests and benchmarks: a temporary SQLite file, or a fresh PostgreSQL schema.

PostgreSQL tests share one database (scripts/postgres.sh); each ledger gets its own schema through
the connection's search_path, so tests never see each other's rows and cleanup is one DROP SCHEMA.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from gripctl.ledger.store import Ledger, open_ledger

POSTGRES_URL_ENV = "GRIPCTL_TEST_POSTGRES_URL"


class Clock:
    """A settable clock for `Ledger.clock`: tests decide what "now" is (lock expiry, durations)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@contextmanager
def postgres_schema_url(base_url: str, prefix: str = "t") -> Iterator[str]:
    """A URL whose connections live in a new, empty schema; the schema is dropped afterwards."""
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def temporary_ledger(backend: str, tmp_path: Path, postgres_url: str | None = None) -> Iterator[Ledger]:
    """An empty, migrated ledger on `backend` ("sqlite" or "postgresql")."""
    if backend == "sqlite":
        ledger = open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
        try:
            yield ledger
        finally:
            ledger.close()
        return
    if not postgres_url:
        raise RuntimeError(f"{POSTGRES_URL_ENV} is not set; run `make postgres` and export it")
    with postgres_schema_url(postgres_url) as url:
        ledger = open_ledger(url)
        try:
            yield ledger
        finally:
            ledger.close()
