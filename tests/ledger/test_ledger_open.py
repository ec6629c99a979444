"""Opening the ledger: where it lives, migrations to head, and the errors for databases it cannot use."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from gripctl.errors import LedgerError
from gripctl.ledger import DATABASE_URL_ENV, Ledger, open_ledger
from gripctl.ledger.migrations import HEAD
from gripctl.ledger.schema import Base
from gripctl.ledger.testing import POSTGRES_URL_ENV, postgres_schema_url

TABLES = {
    "runs",
    "release_actions",
    "events",
    "plans",
    "approvals",
    "env_locks",
    "commits",
    "incidents",
    "incident_events",
    "notifications",
    "secret_rotations",
    "api_tokens",
    "audit_log",
    "drift_findings",
    "leases",
}


def _closed_port() -> int:
    # Bind then close: nothing listens on this port afterwards (the kernel will not hand it out again
    # immediately), so a connection is refused at once instead of timing out.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_default_ledger_is_sqlite_under_dot_gripctl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DATABASE_URL_ENV, raising=False)
    with open_ledger(root=tmp_path) as ledger:
        assert ledger.dialect == "sqlite"
        assert (tmp_path / ".gripctl" / "ledger.sqlite").is_file()
        assert set(inspect(ledger.engine).get_table_names()) == TABLES | {"alembic_version"}


def test_environment_variable_wins_over_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "elsewhere.sqlite"
    monkeypatch.setenv(DATABASE_URL_ENV, f"sqlite:///{target}")
    with open_ledger(root=tmp_path / "repo") as ledger:
        ledger.start_run("prod", "deploy", "alice", None, None)
    assert target.is_file()
    assert not (tmp_path / "repo").exists()


def test_reopening_keeps_data_and_revision(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'l.sqlite'}"
    with open_ledger(url) as ledger:
        run_id = ledger.start_run("prod", "deploy", "alice", "abc", None)
    with open_ledger(url) as ledger:
        run = ledger.run(run_id)
        assert run is not None and run.git_commit == "abc"
        with ledger.engine.connect() as conn:
            assert MigrationContext.configure(conn).get_current_revision() == HEAD


def test_head_constant_is_the_newest_migration() -> None:
    """Opening a current ledger trusts migrations.HEAD instead of asking alembic: it must stay true."""
    from alembic.script import ScriptDirectory

    from gripctl.ledger.db import alembic_config
    from gripctl.ledger.migrations import HEAD

    assert ScriptDirectory.from_config(alembic_config()).get_heads() == [HEAD]


def test_opening_a_new_or_current_ledger_does_not_load_alembic(tmp_path: Path) -> None:
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    probe = (
        "import sys; from gripctl.ledger import open_ledger; "
        f"open_ledger({url!r}).close(); open_ledger({url!r}).close(); print('alembic' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False", done.stderr
    with open_ledger(url) as ledger, ledger.engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == HEAD


def test_unreachable_postgres_names_url_with_password_masked(tmp_path: Path) -> None:
    port = _closed_port()
    url = f"postgresql+psycopg://deployer:s3cr3t-pw@127.0.0.1:{port}/ledger"
    with pytest.raises(LedgerError) as err:
        open_ledger(url, root=tmp_path)
    text_ = str(err.value)
    assert f"postgresql+psycopg://deployer:***@127.0.0.1:{port}/ledger" in text_
    assert "s3cr3t-pw" not in text_
    assert "s3cr3t-pw" not in repr(err.value.to_dict())
    assert DATABASE_URL_ENV in (err.value.hint or "")
    assert list(tmp_path.iterdir()) == []  # nothing created: no .gripctl, no SQLite fallback


def test_unopenable_sqlite_path_is_a_ledger_error_and_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "dir" / "ledger.sqlite"
    with pytest.raises(LedgerError, match=r"cannot open the ledger database sqlite:///.*no/such/dir"):
        open_ledger(f"sqlite:///{missing}")
    assert not (tmp_path / "no").exists()


def test_malformed_url_is_a_ledger_error(tmp_path: Path) -> None:
    with pytest.raises(LedgerError, match="not a database URL") as err:
        open_ledger("mysql-but-typo://u:pw@host/db", root=tmp_path)
    assert "pw@" not in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_schema_newer_than_this_gripctl_is_refused_untouched(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'l.sqlite'}"
    open_ledger(url).close()
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099_future'"))
    with pytest.raises(LedgerError, match="schema revision 0099_future") as err:
        open_ledger(url)
    assert "upgrade gripctl" in (err.value.hint or "")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == "0099_future"
    engine.dispose()


@contextmanager
def _empty_database(backend: str, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.sqlite'}"
        return
    with postgres_schema_url(os.environ[POSTGRES_URL_ENV]) as url:
        yield url


def test_migrations_create_exactly_the_models(backend: str, tmp_path: Path) -> None:
    """The hand-written migrations, run one by one from an empty database, and the ORM models describe
    the same schema (no autogenerate diff): so a fresh ledger may be created from the models directly."""
    from alembic import command

    from gripctl.ledger.db import alembic_config

    with _empty_database(backend, tmp_path) as url:
        engine = create_engine(url)
        try:
            with engine.begin() as conn:
                cfg = alembic_config()
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
            with engine.connect() as conn:
                assert MigrationContext.configure(conn).get_current_revision() == HEAD
                diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
            assert diff == []
            assert set(inspect(engine).get_table_names()) >= TABLES
        finally:
            engine.dispose()


def _reflected(url: str) -> dict[str, dict[str, Any]]:
    """What the database says about each table: columns with type, nullability and server default,
    indexes with their partial WHERE, CHECK constraints, foreign keys. Alembic's compare_metadata checks
    neither server defaults nor CHECK constraints nor an index's WHERE; this does."""
    engine = create_engine(url)
    try:
        db = inspect(engine)
        return {
            table: {
                "columns": {
                    c["name"]: (str(c["type"]), c["nullable"], c.get("default"))
                    for c in db.get_columns(table)
                },
                "indexes": sorted(
                    (
                        i["name"],
                        tuple(i["column_names"]),
                        bool(i["unique"]),
                        sorted((k, str(v)) for k, v in i.get("dialect_options", {}).items()),
                    )
                    for i in db.get_indexes(table)
                ),
                "checks": sorted((c["name"], c["sqltext"]) for c in db.get_check_constraints(table)),
                "foreign_keys": sorted(
                    (tuple(f["constrained_columns"]), f["referred_table"], str(f.get("options")))
                    for f in db.get_foreign_keys(table)
                ),
            }
            for table in db.get_table_names()
            if table != "alembic_version"
        }
    finally:
        engine.dispose()


def test_migrations_and_models_agree_on_defaults_checks_and_partial_indexes(
    backend: str, tmp_path: Path
) -> None:
    """A ledger migrated from empty and one created from the models, compared in the details the
    schema test above cannot see."""
    from alembic import command

    from gripctl.ledger.db import alembic_config

    with _empty_database(backend, tmp_path) as migrated_url:
        engine = create_engine(migrated_url)
        try:
            with engine.begin() as conn:
                cfg = alembic_config()
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
        finally:
            engine.dispose()
        migrated = _reflected(migrated_url)
    (tmp_path / "fresh").mkdir()
    with _empty_database(backend, tmp_path / "fresh") as fresh_url:
        open_ledger(fresh_url).close()
        fresh = _reflected(fresh_url)
    assert set(migrated) == TABLES
    for table in sorted(TABLES):
        assert migrated[table] == fresh[table], table
    (open_drift,) = [i for i in migrated["drift_findings"]["indexes"] if i[0] == "ux_drift_findings_open"]
    assert "resolved_at IS NULL" in str(open_drift[3]).replace("(", "").replace(")", "")


def test_fresh_ledger_is_created_from_the_models_and_stamped_at_head(ledger: Ledger) -> None:
    with ledger.engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == HEAD
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    run_id = ledger.start_run("prod", "deploy", "alice", None, None)
    assert ledger.run(run_id) is not None


def test_a_ledger_at_an_older_revision_is_migrated(tmp_path: Path) -> None:
    """Existing data goes through the migrations (here 0001 -> head), not through the fresh path."""
    from alembic import command

    from gripctl.ledger.db import alembic_config

    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        conn.execute(
            text(
                "INSERT INTO runs (environment, kind, actor, host, pid, outcome, started_at) "
                "VALUES ('prod', 'deploy', 'alice', 'h', 1, 'succeeded', '2026-01-01 00:00:00')"
            )
        )
    engine.dispose()
    with open_ledger(url) as ledger:
        with ledger.engine.connect() as conn:
            assert MigrationContext.configure(conn).get_current_revision() == HEAD
        assert [r.actor for r in ledger.runs("prod")] == ["alice"]


@pytest.mark.postgres
def test_concurrent_first_opens_on_postgres_migrate_once() -> None:
    base = os.environ.get(POSTGRES_URL_ENV)
    if not base:
        pytest.skip(f"{POSTGRES_URL_ENV} is not set: run `make postgres` and export it (make test does)")
    from concurrent.futures import ThreadPoolExecutor

    with postgres_schema_url(base) as url, ThreadPoolExecutor(4) as pool:
        ledgers = list(pool.map(lambda _: open_ledger(url), range(4)))
        try:
            ids = [lg.start_run("prod", "deploy", "a", None, None) for lg in ledgers]
            assert len(set(ids)) == 4
        finally:
            for lg in ledgers:
                lg.close()


def test_locked_sqlite_is_a_ledger_error_and_writes_nothing(tmp_path: Path) -> None:
    import sqlite3

    from gripctl.ledger.db import engine_for

    url = f"sqlite:///{tmp_path / 'l.sqlite'}"
    open_ledger(url).close()
    # A short busy timeout stands in for the real 30 s; another process holds the write lock meanwhile.
    ledger = Ledger(engine_for(url, sqlite_busy_timeout=0.2))
    other = sqlite3.connect(tmp_path / "l.sqlite", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(LedgerError, match="database is locked") as err:
            ledger.start_run("prod", "deploy", "alice", None, None)
        assert url in str(err.value)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert ledger.runs() == []
    assert ledger.start_run("prod", "deploy", "alice", None, None) == 1  # works once the lock is gone
    ledger.close()
