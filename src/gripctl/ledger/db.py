"""The ledger's database plumbing: finding the URL, connecting, migrating, and one transaction per call.

Everything here is about the connection, nothing about a record: `connect()` hands `open_ledger` an
engine migrated to head, and `LedgerBase` gives each record module (gripctl.ledger.records) its clock
and `_tx()`. Writes that must not be lost before an external effect (an action about to call helm)
commit before the method returns.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from sqlalchemy import Engine, create_engine, event, func, inspect, select, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from gripctl.errors import LedgerError
from gripctl.ledger import schema as t
from gripctl.ledger.migrations import HEAD

if TYPE_CHECKING:
    from alembic.config import Config

DATABASE_URL_ENV = "GRIPCTL_DATABASE_URL"
READONLY = "gripctl_readonly"  # connection execution option: a transaction that only reads
TIMELINE = "gripctl_timeline"  # connection execution option: a timeline event, committed without fsync
MIGRATIONS = Path(__file__).parent / "migrations"
# Any fixed number: PostgreSQL advisory lock key that serialises concurrent first-time migrations.
_MIGRATION_LOCK_KEY = 0x67726970


class _Unset:
    """Marks "leave this column alone" where None is a meaningful value (e.g. stop escalating)."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


def mask_url(url: str) -> str:
    """The URL with its password replaced by ***, safe for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        # Not parseable: show only the scheme, the rest might be a password.
        return url.split("://", 1)[0] + "://…" if "://" in url else "<unparseable URL>"


def configured_url(root: Path | None, *, create: bool = True) -> str | None:
    """gripctl.yaml's `ledger.url` under `root`; a relative SQLite path is relative to the repository
    (its folder created unless `create` is False: looking must not change anything)."""
    from gripctl.model.settings import read_settings

    if root is None:
        return None
    section = read_settings(root).get("ledger")
    url = section.get("url") if isinstance(section, dict) else None
    if not isinstance(url, str) or not url:
        return None
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url[len(prefix) :].startswith("/"):
        path = root / url[len(prefix) :]
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
        url = prefix + str(path)
    return url


def resolve_url(url: str | None, root: Path | None, *, create: bool = True) -> str:
    """`url`, else $GRIPCTL_DATABASE_URL, else gripctl.yaml's `ledger.url` under `root`, else
    `<root>/.gripctl/ledger.sqlite` (its folder created unless `create` is False)."""
    url = url or os.environ.get(DATABASE_URL_ENV) or configured_url(root, create=create)
    if url is not None:
        return url
    base = (root or Path.cwd()) / ".gripctl"
    if create:
        base.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{base / 'ledger.sqlite'}"


def connect(url: str) -> Engine:
    """An engine on `url` with the schema at head (created or migrated as needed). Raises LedgerError
    when the database cannot be reached or was migrated by a newer gripctl."""
    shown = mask_url(url)
    hint = (
        f"check that the database is running and reachable, or point {DATABASE_URL_ENV} at another one "
        "(unset it to use the local SQLite ledger in .gripctl/)"
    )
    try:
        engine = engine_for(url)
    except (ArgumentError, NoSuchModuleError, ValueError) as exc:
        raise LedgerError(
            f"{shown!r} is not a database URL gripctl can use: {exc}",
            hint="use sqlite:///path/to/ledger.sqlite or postgresql+psycopg://user:password@host:5432/db",
        ) from None
    try:
        _migrate(engine)
    except DBAPIError as exc:
        engine.dispose()
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise LedgerError(f"cannot open the ledger database {shown}: {reason}", hint=hint) from None
    except _SchemaTooNew as exc:
        engine.dispose()
        raise LedgerError(
            f"the ledger database {shown} is at schema revision {exc.revision}, "
            "which this gripctl does not know",
            hint="a newer gripctl migrated it; upgrade gripctl (never downgrade a shared ledger)",
        ) from None
    return engine


def engine_for(url: str, *, sqlite_busy_timeout: float = 30.0) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        # Several threads of one process share the file; a writer waits for another instead of failing.
        connect_args = {"timeout": sqlite_busy_timeout, "check_same_thread": False}
        engine = create_engine(parsed, connect_args=connect_args)
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    connect_args = {"connect_timeout": 5} if parsed.get_backend_name() == "postgresql" else {}
    return create_engine(parsed, pool_pre_ping=True, connect_args=connect_args)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Take transaction control from pysqlite so that _sqlite_on_begin decides how a transaction starts.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")  # readers (web, metrics) never block the deploying writer
    # Metrics sort and scan hundreds of thousands of rows: keep temporary B-trees in memory and give the
    # page cache 64 MiB (SQLite's default is 2 MiB).
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.close()


def _sqlite_on_begin(conn: Connection) -> None:
    # BEGIN IMMEDIATE takes the write lock up front: two deferred transactions that both later write
    # would otherwise fail with "database is locked" instead of waiting their turn. Read-only work
    # (metrics, listings) sets the READONLY execution option and starts a plain BEGIN, which never waits
    # for, nor blocks, a writer in WAL mode.
    options = conn.get_execution_options()
    if options.get(READONLY, False):
        conn.exec_driver_sql("BEGIN")
        return
    # A timeline event is committed to the WAL without waiting for the disk (synchronous=NORMAL): it
    # survives gripctl being killed, and the next commit of anything else (a write-ahead action, a
    # run's outcome: synchronous=FULL) syncs it with its own. One fsync per event, thousands in a run of
    # 300 releases, held the engine's event loop for seconds (docs/performance.md).
    conn.exec_driver_sql("PRAGMA synchronous=NORMAL" if options.get(TIMELINE) else "PRAGMA synchronous=FULL")
    conn.exec_driver_sql("BEGIN IMMEDIATE")


class _SchemaTooNew(Exception):
    def __init__(self, revision: str) -> None:
        self.revision = revision


def alembic_config() -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def _at_head(engine: Engine) -> bool:
    """The schema is current (the common case): known without importing alembic, which alone takes
    about a second of every command's start-up."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return False
        return {r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version"))} == {HEAD}


def _create_fresh(engine: Engine) -> bool:
    """An empty database gets the models' schema in one go, stamped at HEAD (alembic's cookbook:
    "building an up-to-date database from scratch"); migrations only run on databases that have data.
    tests/ledger/test_ledger_open.py holds the migrations and the models to the same schema. False when
    the database is not empty (or another process created it first)."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK_KEY})
        if inspect(conn).get_table_names():
            return False
        t.Base.metadata.create_all(conn)
        conn.execute(
            text(
                "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
                "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
            )
        )
        conn.execute(text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": HEAD})
    return True


def _migrate(engine: Engine) -> None:
    if _at_head(engine) or _create_fresh(engine):
        return
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    cfg = alembic_config()
    heads = set(ScriptDirectory.from_config(cfg).get_heads())
    known = {s.revision for s in ScriptDirectory.from_config(cfg).walk_revisions()}
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK_KEY})
        current = set(MigrationContext.configure(conn).get_current_heads())
        if current == heads:
            return
        unknown = current - known
        if unknown:
            raise _SchemaTooNew(", ".join(sorted(unknown)))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def _now() -> datetime:
    return datetime.now(UTC)


def rowcount(result: Any) -> int:
    """Rows an UPDATE/DELETE matched: how an atomic conditional write tells whether it won."""
    return int(result.rowcount)


class LedgerBase:
    """The connection side of the Ledger: its engine, its clock, and one short transaction per call.
    Each record module in gripctl.ledger.records adds its methods on top of this."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] = _now) -> None:
        self.engine = engine
        self.clock = clock
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._read_sessions = sessionmaker(
            engine.execution_options(**{READONLY: True}), expire_on_commit=False
        )
        self._timeline_sessions = sessionmaker(
            engine.execution_options(**{TIMELINE: True}), expire_on_commit=False
        )

    @property
    def url(self) -> str:
        """The database URL with the password masked."""
        return self.engine.url.render_as_string(hide_password=True)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self, *, read: bool = False, timeline: bool = False) -> Iterator[Session]:
        """One transaction: committed on success, rolled back on any exception. `timeline`: an event
        that need not reach the disk before the call returns, only before the next other commit."""
        sessions = self._read_sessions if read else self._timeline_sessions if timeline else self._sessions
        try:
            with sessions() as session, session.begin():
                if timeline and self.engine.dialect.name == "postgresql":
                    # PostgreSQL's own form of the same: this commit does not wait for its WAL flush.
                    session.execute(text("SET LOCAL synchronous_commit TO OFF"))
                yield session
        except OperationalError as exc:
            # Server gone, connection dropped, or SQLite still locked after the busy timeout.
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise LedgerError(
                f"the ledger database {self.url} failed: {reason}",
                hint="check the database server; everything before this point is recorded",
            ) from exc

    @staticmethod
    def _get(s: Session, model: type[Any], key: object, what: str) -> Any:
        row = s.get(model, key)
        if row is None:
            raise LedgerError(
                f"no {what} {key} in the ledger", hint="it may belong to another ledger database"
            )
        return row

    def counts(self) -> dict[str, int]:
        """Row count per table (for tests and `status`-like diagnostics)."""
        with self._tx(read=True) as s:
            return {
                table.name: int(s.scalar(select(func.count()).select_from(table)) or 0)
                for table in t.Base.metadata.sorted_tables
            }
