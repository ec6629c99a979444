"""The Ledger: typed read/write methods over the ledger database, one short transaction per call.

Callers get frozen records (gripctl.ledger.types), never ORM objects, so nothing holds a session and the
engine may call in from several threads. Writes that must not be lost before an external effect (an
action about to call helm) commit before the method returns.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, exists, func, inspect, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session, aliased, sessionmaker

from gripctl.errors import LedgerError, UsageError
from gripctl.ledger import schema as t
from gripctl.ledger.migrations import HEAD
from gripctl.ledger.types import (
    ActionKind,
    ActionOutcome,
    ActionRecord,
    ApprovalRecord,
    CommitInfo,
    EnvLockRecord,
    EventRecord,
    IncidentEventKind,
    IncidentEventRecord,
    IncidentRecord,
    IncidentStatus,
    NotificationOutcome,
    NotificationRecord,
    PlanRecord,
    RunKind,
    RunOutcome,
    RunRecord,
    SecretRotationRecord,
    Severity,
)

if TYPE_CHECKING:
    from alembic.config import Config

DATABASE_URL_ENV = "GRIPCTL_DATABASE_URL"
READONLY = "gripctl_readonly"  # connection execution option: a transaction that only reads
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


def default_url(root: Path | None) -> str:
    base = (root or Path.cwd()) / ".gripctl"
    return f"sqlite:///{base / 'ledger.sqlite'}"


def configured_url(root: Path | None) -> str | None:
    """gripctl.yaml's `ledger.url` under `root`; a relative SQLite path is relative to the repository."""
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
        path.parent.mkdir(parents=True, exist_ok=True)
        url = prefix + str(path)
    return url


def open_ledger(url: str | None = None, *, root: Path | None = None) -> Ledger:
    """Open (creating or migrating to head as needed) the ledger at `url`, else $GRIPCTL_DATABASE_URL,
    else gripctl.yaml's `ledger.url` under `root`, else `<root>/.gripctl/ledger.sqlite`.
    Raises LedgerError when the database cannot be reached."""
    url = url or os.environ.get(DATABASE_URL_ENV) or configured_url(root)
    if url is None:
        (root or Path.cwd()).joinpath(".gripctl").mkdir(parents=True, exist_ok=True)
        url = default_url(root)
    shown = mask_url(url)
    hint = (
        f"check that the database is running and reachable, or point {DATABASE_URL_ENV} at another one "
        "(unset it to use the local SQLite ledger in .gripctl/)"
    )
    try:
        engine = _create_engine(url)
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
    return Ledger(engine)


def _create_engine(url: str, *, sqlite_busy_timeout: float = 30.0) -> Engine:
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
    readonly = conn.get_execution_options().get(READONLY, False)
    conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")


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


class Ledger:
    """The durable record. One Session per call; safe to share between threads."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] = _now) -> None:
        self.engine = engine
        self.clock = clock
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._read_sessions = sessionmaker(
            engine.execution_options(**{READONLY: True}), expire_on_commit=False
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

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self, *, read: bool = False) -> Iterator[Session]:
        """One transaction: committed on success, rolled back on any exception."""
        try:
            with (self._read_sessions if read else self._sessions)() as session, session.begin():
                yield session
        except OperationalError as exc:
            # Server gone, connection dropped, or SQLite still locked after the busy timeout.
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise LedgerError(
                f"the ledger database {self.url} failed: {reason}",
                hint="check the database server; everything before this point is recorded",
            ) from exc

    # --- runs -------------------------------------------------------------------------------------

    def start_run(
        self,
        environment: str,
        kind: RunKind | str,
        actor: str,
        git_commit: str | None,
        plan_digest: str | None,
        *,
        host: str | None = None,
        pid: int | None = None,
    ) -> int:
        row = t.Run(
            environment=environment,
            kind=RunKind(kind).value,
            actor=actor,
            host=host or socket.gethostname(),
            pid=os.getpid() if pid is None else pid,
            started_at=self.clock(),
            outcome=RunOutcome.running.value,
            git_commit=git_commit,
            plan_digest=plan_digest,
        )
        with self._tx() as s:
            s.add(row)
            s.flush()
            return row.id

    def finish_run(
        self,
        run_id: int,
        outcome: RunOutcome | str,
        error: str | None = None,
        *,
        durations: dict[str, float] | None = None,
    ) -> None:
        outcome = RunOutcome(outcome)
        if outcome is RunOutcome.running:
            raise ValueError("finish_run needs a final outcome, not 'running'")
        now = self.clock()
        with self._tx() as s:
            row = self._get(s, t.Run, run_id, "run")
            row.finished_at = now
            row.outcome = outcome.value
            row.error = error
            row.duration_seconds = (now - row.started_at).total_seconds()
            if durations is not None:
                row.durations = dict(durations)
            if _is_successful_deploy(row):
                _stamp_recovered_failures(s, row)
                _stamp_first_shipped_commits(s, row)

    def runs(self, environment: str | None = None, limit: int = 50) -> list[RunRecord]:
        """The latest runs, newest first."""
        query = select(t.Run).order_by(t.Run.id.desc()).limit(limit)
        if environment is not None:
            query = query.where(t.Run.environment == environment)
        with self._tx(read=True) as s:
            return [_run(r) for r in s.scalars(query)]

    def run(self, run_id: int) -> RunRecord | None:
        """One run with its actions and its event timeline, or None."""
        with self._tx(read=True) as s:
            row = s.get(t.Run, run_id)
            if row is None:
                return None
            actions = s.scalars(
                select(t.ReleaseAction).where(t.ReleaseAction.run_id == run_id).order_by(t.ReleaseAction.id)
            )
            events = s.scalars(select(t.Event).where(t.Event.run_id == run_id).order_by(t.Event.id))
            return _run(row, tuple(_action(a) for a in actions), tuple(_event(e) for e in events))

    def revision_runs(self, release_id: str, environment: str) -> dict[int, int]:
        """helm revision -> the run that produced it, for one release in one environment (`history`)."""
        query = (
            select(t.ReleaseAction.to_revision, t.ReleaseAction.run_id)
            .join(t.Run, t.Run.id == t.ReleaseAction.run_id)
            .where(
                t.ReleaseAction.release_id == release_id,
                t.Run.environment == environment,
                t.ReleaseAction.to_revision.is_not(None),
            )
            .order_by(t.ReleaseAction.id)
        )
        with self._tx(read=True) as s:
            return {rev: run for rev, run in s.execute(query) if rev is not None}

    def last_deployed_commit(self, environment: str) -> str | None:
        """The git commit of the environment's latest successful deploy (where lead time counts from)."""
        query = (
            select(t.Run.git_commit)
            .where(
                t.Run.environment == environment,
                t.Run.kind == RunKind.deploy.value,
                t.Run.outcome == RunOutcome.succeeded.value,
                t.Run.git_commit.is_not(None),
            )
            .order_by(t.Run.finished_at.desc())
            .limit(1)
        )
        with self._tx(read=True) as s:
            return s.scalar(query)

    # --- release actions and events ----------------------------------------------------------------

    def begin_action(
        self,
        run_id: int,
        release_id: str,
        action: ActionKind | str,
        from_revision: int | None,
        chart_version: str | None,
    ) -> int:
        """Write-ahead: record the action as running *before* helm is called, so a crash leaves a trace."""
        row = t.ReleaseAction(
            run_id=run_id,
            release_id=release_id,
            action=ActionKind(action).value,
            from_revision=from_revision,
            chart_version=chart_version,
            started_at=self.clock(),
            outcome=ActionOutcome.running.value,
        )
        with self._tx() as s:
            s.add(row)
            s.flush()
            return row.id

    def finish_action(
        self,
        action_id: int,
        outcome: ActionOutcome | str,
        to_revision: int | None = None,
        error: str | None = None,
    ) -> None:
        with self._tx() as s:
            row = self._get(s, t.ReleaseAction, action_id, "release action")
            row.outcome = ActionOutcome(outcome).value
            row.finished_at = self.clock()
            row.to_revision = to_revision
            row.error = error

    def event(
        self,
        run_id: int,
        kind: str,
        message: str,
        release_id: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> int:
        """Append to the run's timeline. `data` must be JSON-serialisable and must not carry secrets."""
        row = t.Event(
            run_id=run_id, kind=kind, message=message, release_id=release_id, data=data, ts=self.clock()
        )
        with self._tx() as s:
            s.add(row)
            s.flush()
            return row.id

    def record_commits(self, run_id: int, commits: Sequence[CommitInfo]) -> None:
        """The commits this run ships (those since the environment's last successful deploy)."""
        if not commits:
            return
        for c in commits:
            if c.committed_at.tzinfo is None:
                raise ValueError(
                    f"commit {c.sha}: naive datetime {c.committed_at!r}; git times are UTC-aware"
                )
        with self._tx() as s:
            s.add_all(
                t.Commit(
                    run_id=run_id,
                    sha=c.sha,
                    committed_at=c.committed_at,
                    author=c.author,
                    summary=c.summary[:500],
                )
                for c in commits
            )
            run = s.get(t.Run, run_id)
            if run is not None and _is_successful_deploy(run):  # recorded after the fact: stamp them now
                s.flush()
                _stamp_first_shipped_commits(s, run)

    # --- plans and approvals ---------------------------------------------------------------------

    def save_plan(
        self, plan_digest: str, environment: str, body: dict[str, Any], git_commit: str | None
    ) -> PlanRecord:
        """Store a plan by digest; saving the same digest again keeps the first copy."""
        with self._tx() as s:
            row = s.get(t.Plan, plan_digest)
            if row is None:
                row = t.Plan(
                    digest=plan_digest,
                    id=plan_digest[:12],
                    environment=environment,
                    created_at=self.clock(),
                    body=body,
                    git_commit=git_commit,
                )
                s.add(row)
            return _plan(row)

    def get_plan(self, id_or_digest: str) -> PlanRecord | None:
        """A plan by full digest, 12-digit id, or any unambiguous prefix of at least 6 hex digits."""
        key = id_or_digest.strip().lower()
        with self._tx(read=True) as s:
            row = s.get(t.Plan, key)
            if row is not None:
                return _plan(row)
            if len(key) < 6:
                return None
            rows = list(
                s.scalars(select(t.Plan).where(t.Plan.digest.startswith(key, autoescape=True)).limit(2))
            )
            if len(rows) > 1:
                raise UsageError(
                    f"plan id {id_or_digest!r} matches several saved plans",
                    hint="give more digits of the plan digest",
                )
            return _plan(rows[0]) if rows else None

    def approve(self, plan_id_or_digest: str, approver: str, comment: str | None = None) -> ApprovalRecord:
        """Approve a saved plan; approving twice as the same person returns the first approval."""
        plan = self.get_plan(plan_id_or_digest)
        if plan is None:
            raise UsageError(
                f"no saved plan {plan_id_or_digest!r} in the ledger {self.url}",
                hint="run `gripctl plan -e ENV` and approve the plan id it prints",
            )
        with self._tx() as s:
            existing = s.scalar(
                select(t.Approval).where(
                    t.Approval.plan_digest == plan.digest, t.Approval.approver == approver
                )
            )
            if existing is not None:
                return _approval(existing)
            row = t.Approval(
                plan_digest=plan.digest, approver=approver, approved_at=self.clock(), comment=comment
            )
            s.add(row)
            s.flush()
            return _approval(row)

    def approvals(self, plan_digest: str) -> list[ApprovalRecord]:
        query = select(t.Approval).where(t.Approval.plan_digest == plan_digest).order_by(t.Approval.id)
        with self._tx(read=True) as s:
            return [_approval(a) for a in s.scalars(query)]

    # --- environment locks ------------------------------------------------------------------------

    def acquire_env_lock(
        self,
        environment: str,
        run_id: int,
        holder: str,
        ttl_seconds: float,
        *,
        host: str | None = None,
        pid: int | None = None,
    ) -> bool:
        """Take the environment's lock for `run_id`: insert it, or take it over only when it expired (or
        this run already holds it). Atomic on both backends. False when someone else holds it; read
        who with env_lock()."""
        now = self.clock()
        values = {
            "environment": environment,
            "run_id": run_id,
            "holder": holder,
            "host": host or socket.gethostname(),
            "pid": os.getpid() if pid is None else pid,
            "acquired_at": now,
            "heartbeat_at": now,
            "expires_at": now + timedelta(seconds=ttl_seconds),
        }
        insert = (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(t.EnvLock)
        with self._tx() as s:
            inserted = s.execute(
                insert.values(**values).on_conflict_do_nothing(index_elements=["environment"])
            )
            if _rowcount(inserted) == 1:
                return True
            # The row exists: take it over only if its holder stopped heartbeating, in one UPDATE so that
            # of two racing takers exactly one matches the WHERE clause.
            taken = s.execute(
                update(t.EnvLock)
                .where(
                    t.EnvLock.environment == environment,
                    or_(t.EnvLock.expires_at < now, t.EnvLock.run_id == run_id),
                )
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            return _rowcount(taken) == 1

    def env_lock(self, environment: str) -> EnvLockRecord | None:
        """Who holds the environment's lock (possibly expired: compare expires_at with now)."""
        with self._tx(read=True) as s:
            row = s.get(t.EnvLock, environment)
            return _lock(row) if row is not None else None

    def heartbeat_env_lock(self, environment: str, run_id: int, ttl_seconds: float) -> bool:
        """Extend the lock; False if this run no longer holds it (it expired and someone took it over)."""
        now = self.clock()
        with self._tx() as s:
            result = s.execute(
                update(t.EnvLock)
                .where(t.EnvLock.environment == environment, t.EnvLock.run_id == run_id)
                .values(heartbeat_at=now, expires_at=now + timedelta(seconds=ttl_seconds))
                .execution_options(synchronize_session=False)
            )
            return _rowcount(result) == 1

    def release_env_lock(self, environment: str, run_id: int) -> bool:
        """Drop the lock if this run holds it; False if it did not."""
        with self._tx() as s:
            row = s.get(t.EnvLock, environment)
            if row is None or row.run_id != run_id:
                return False
            s.delete(row)
            return True

    def interrupted_runs(self, environment: str) -> list[RunRecord]:
        """Runs still marked running whose process no longer holds a live lock: crashed or killed."""
        now = self.clock()
        live_lock = exists().where(
            t.EnvLock.environment == t.Run.environment,
            t.EnvLock.run_id == t.Run.id,
            t.EnvLock.expires_at >= now,
        )
        query = (
            select(t.Run)
            .where(t.Run.environment == environment, t.Run.outcome == RunOutcome.running.value, ~live_lock)
            .order_by(t.Run.id)
        )
        with self._tx(read=True) as s:
            return [_run(r) for r in s.scalars(query)]

    def mark_interrupted(self, run_id: int, error: str | None = None) -> None:
        """Close a crashed run and its unfinished actions as interrupted (no-op if already finished)."""
        now = self.clock()
        with self._tx() as s:
            row = self._get(s, t.Run, run_id, "run")
            if row.outcome != RunOutcome.running.value:
                return
            row.outcome = RunOutcome.interrupted.value
            row.finished_at = now
            row.duration_seconds = (now - row.started_at).total_seconds()
            row.error = error or "the run's process stopped before finishing (lock expired)"
            s.execute(
                update(t.ReleaseAction)
                .where(
                    t.ReleaseAction.run_id == run_id,
                    t.ReleaseAction.outcome.in_([ActionOutcome.pending.value, ActionOutcome.running.value]),
                )
                .values(outcome=ActionOutcome.interrupted.value, finished_at=now)
                .execution_options(synchronize_session=False)
            )

    # --- incidents ---------------------------------------------------------------------------------

    def open_incident(
        self,
        environment: str,
        title: str,
        severity: Severity | str,
        *,
        release_id: str | None = None,
        run_id: int | None = None,
        dedup_key: str | None = None,
        next_escalation_at: datetime | None = None,
        actor: str | None = None,
        message: str | None = None,
    ) -> int:
        """Open an incident (and its `opened` event). With a dedup_key, an unresolved incident carrying
        the same key is returned instead of opening a second one."""
        now = self.clock()
        with self._tx() as s:
            if dedup_key is not None:
                existing = s.scalar(
                    select(t.Incident.id)
                    .where(
                        t.Incident.dedup_key == dedup_key, t.Incident.status != IncidentStatus.resolved.value
                    )
                    .order_by(t.Incident.id)
                    .limit(1)
                )
                if existing is not None:
                    return existing
            row = t.Incident(
                environment=environment,
                release_id=release_id,
                run_id=run_id,
                severity=Severity(severity).value,
                status=IncidentStatus.open.value,
                title=title,
                opened_at=now,
                escalation_level=0,
                next_escalation_at=next_escalation_at,
                dedup_key=dedup_key,
            )
            s.add(row)
            s.flush()
            s.add(
                t.IncidentEvent(
                    incident_id=row.id,
                    ts=now,
                    kind=IncidentEventKind.opened.value,
                    actor=actor,
                    message=message or title,
                )
            )
            return row.id

    def incident(self, incident_id: int) -> IncidentRecord | None:
        """One incident with its event timeline, or None."""
        with self._tx(read=True) as s:
            row = s.get(t.Incident, incident_id)
            if row is None:
                return None
            events = s.scalars(
                select(t.IncidentEvent)
                .where(t.IncidentEvent.incident_id == incident_id)
                .order_by(t.IncidentEvent.id)
            )
            return _incident(row, tuple(_incident_event(e) for e in events))

    def incidents(
        self, status: IncidentStatus | str | None = None, environment: str | None = None, limit: int = 100
    ) -> list[IncidentRecord]:
        """Incidents, newest first."""
        query = select(t.Incident).order_by(t.Incident.id.desc()).limit(limit)
        if status is not None:
            query = query.where(t.Incident.status == IncidentStatus(status).value)
        if environment is not None:
            query = query.where(t.Incident.environment == environment)
        with self._tx(read=True) as s:
            return [_incident(r) for r in s.scalars(query)]

    def due_escalations(self, now: datetime | None = None) -> list[IncidentRecord]:
        """Unresolved incidents whose next escalation time has come."""
        now = now or self.clock()
        query = (
            select(t.Incident)
            .where(
                t.Incident.status != IncidentStatus.resolved.value,
                t.Incident.next_escalation_at.is_not(None),
                t.Incident.next_escalation_at <= now,
            )
            .order_by(t.Incident.next_escalation_at)
        )
        with self._tx(read=True) as s:
            return [_incident(r) for r in s.scalars(query)]

    def add_incident_event(
        self, incident_id: int, kind: IncidentEventKind | str, message: str, actor: str | None = None
    ) -> int:
        with self._tx() as s:
            self._get(s, t.Incident, incident_id, "incident")
            row = t.IncidentEvent(
                incident_id=incident_id,
                ts=self.clock(),
                kind=IncidentEventKind(kind).value,
                actor=actor,
                message=message,
            )
            s.add(row)
            s.flush()
            return row.id

    def update_incident(
        self,
        incident_id: int,
        *,
        status: IncidentStatus | str | None = None,
        severity: Severity | str | None = None,
        title: str | None = None,
        escalation_level: int | None = None,
        next_escalation_at: datetime | None = UNSET,
        rca: str | None = None,
        acknowledged_at: datetime | None = None,
        resolved_at: datetime | None = None,
    ) -> IncidentRecord:
        """Change an incident. Moving to acknowledged/resolved stamps the time (now unless given);
        next_escalation_at=None stops escalation (leave it out to keep the current value)."""
        now = self.clock()
        with self._tx() as s:
            row = self._get(s, t.Incident, incident_id, "incident")
            if status is not None:
                status = IncidentStatus(status)
                row.status = status.value
                if status is IncidentStatus.acknowledged and row.acknowledged_at is None:
                    row.acknowledged_at = acknowledged_at or now
                if status is IncidentStatus.resolved:
                    row.resolved_at = resolved_at or now
                    row.next_escalation_at = None
                    if row.acknowledged_at is None:
                        row.acknowledged_at = row.resolved_at
            if severity is not None:
                row.severity = Severity(severity).value
            if title is not None:
                row.title = title
            if escalation_level is not None:
                row.escalation_level = escalation_level
            if next_escalation_at is not UNSET:
                row.next_escalation_at = next_escalation_at
            if rca is not None:
                row.rca = rca
            s.flush()
            return _incident(row)

    def record_notification(
        self,
        channel: str,
        event_kind: str,
        outcome: NotificationOutcome | str,
        attempts: int,
        *,
        incident_id: int | None = None,
        run_id: int | None = None,
        status_code: int | None = None,
        error: str | None = None,
    ) -> int:
        row = t.Notification(
            ts=self.clock(),
            channel=channel,
            event_kind=event_kind,
            incident_id=incident_id,
            run_id=run_id,
            attempts=attempts,
            outcome=NotificationOutcome(outcome).value,
            status_code=status_code,
            error=error,
        )
        with self._tx() as s:
            s.add(row)
            s.flush()
            return row.id

    def notifications(
        self, *, incident_id: int | None = None, run_id: int | None = None, limit: int = 100
    ) -> list[NotificationRecord]:
        query = select(t.Notification).order_by(t.Notification.id.desc()).limit(limit)
        if incident_id is not None:
            query = query.where(t.Notification.incident_id == incident_id)
        if run_id is not None:
            query = query.where(t.Notification.run_id == run_id)
        with self._tx(read=True) as s:
            return [_notification(n) for n in s.scalars(query)]

    # --- secrets -----------------------------------------------------------------------------------

    def record_secret_rotation(
        self, component: str, keys: Sequence[str], actor: str, environment: str | None = None
    ) -> int:
        """Record that a component's secret keys were rotated: key *names* only, never values."""
        if isinstance(keys, str):
            raise TypeError("keys is a list of key names")
        row = t.SecretRotation(
            ts=self.clock(), component=component, keys=sorted(keys), actor=actor, environment=environment
        )
        with self._tx() as s:
            s.add(row)
            s.flush()
            return row.id

    def secret_rotations(self, component: str | None = None, limit: int = 100) -> list[SecretRotationRecord]:
        query = select(t.SecretRotation).order_by(t.SecretRotation.id.desc()).limit(limit)
        if component is not None:
            query = query.where(t.SecretRotation.component == component)
        with self._tx(read=True) as s:
            return [
                SecretRotationRecord(r.id, r.ts, r.component, tuple(r.keys), r.actor, r.environment)
                for r in s.scalars(query)
            ]

    # --- helpers ----------------------------------------------------------------------------------

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


def _is_successful_deploy(run: t.Run) -> bool:
    return (
        run.kind == RunKind.deploy.value
        and run.outcome == RunOutcome.succeeded.value
        and run.finished_at is not None
    )


_FAILED_OUTCOMES = (RunOutcome.failed.value, RunOutcome.rolled_back.value, RunOutcome.interrupted.value)


def _stamp_recovered_failures(s: Session, run: t.Run) -> None:
    """A successful deploy ends its environment's failure episode: stamp the failed deploys it recovers
    with `restored_at`, so failed deployment recovery time needs no self-join (docs/metrics.md)."""
    deploys = (t.Run.environment == run.environment, t.Run.kind == RunKind.deploy.value)
    # Only failures since the previous success can be unrecovered: a short index range, not all history.
    previous = s.scalar(
        select(func.max(t.Run.finished_at)).where(
            *deploys, t.Run.outcome == RunOutcome.succeeded.value, t.Run.id != run.id
        )
    )
    s.execute(
        update(t.Run)
        .where(
            *deploys,
            t.Run.outcome.in_(_FAILED_OUTCOMES),
            t.Run.restored_at.is_(None),
            t.Run.finished_at <= run.finished_at,
            *([t.Run.finished_at >= previous] if previous is not None else []),
        )
        .values(restored_at=run.finished_at)
        .execution_options(synchronize_session=False)
    )


def _stamp_first_shipped_commits(s: Session, run: t.Run) -> None:
    """Stamp the lead time on this deploy's commits that no earlier successful deploy of the environment
    shipped (a commit that only rode in failed attempts is stamped here, from its commit time)."""
    assert run.finished_at is not None
    earlier = aliased(t.Commit)
    shipped_before = exists().where(
        earlier.sha == t.Commit.sha,
        earlier.environment == run.environment,
        earlier.deployed_at.is_not(None),
    )
    query = (
        select(t.Commit)
        .where(t.Commit.run_id == run.id, t.Commit.deployed_at.is_(None), ~shipped_before)
        .order_by(t.Commit.committed_at, t.Commit.id)
    )
    stamped: set[str] = set()
    for c in s.scalars(query).all():
        if c.sha in stamped:  # the same sha twice in one run: the earliest commit time counts once
            continue
        stamped.add(c.sha)
        c.environment = run.environment
        c.deployed_at = run.finished_at
        c.lead_seconds = (run.finished_at - c.committed_at).total_seconds()


def _rowcount(result: Any) -> int:
    return int(result.rowcount)


def _run(r: t.Run, actions: tuple[ActionRecord, ...] = (), events: tuple[EventRecord, ...] = ()) -> RunRecord:
    return RunRecord(
        id=r.id,
        environment=r.environment,
        kind=RunKind(r.kind),
        actor=r.actor,
        host=r.host,
        pid=r.pid,
        started_at=r.started_at,
        finished_at=r.finished_at,
        outcome=RunOutcome(r.outcome),
        git_commit=r.git_commit,
        plan_digest=r.plan_digest,
        duration_seconds=r.duration_seconds,
        durations=r.durations,
        error=r.error,
        actions=actions,
        events=events,
    )


def _action(a: t.ReleaseAction) -> ActionRecord:
    return ActionRecord(
        id=a.id,
        run_id=a.run_id,
        release_id=a.release_id,
        action=ActionKind(a.action),
        from_revision=a.from_revision,
        to_revision=a.to_revision,
        chart_version=a.chart_version,
        started_at=a.started_at,
        finished_at=a.finished_at,
        outcome=ActionOutcome(a.outcome),
        error=a.error,
    )


def _event(e: t.Event) -> EventRecord:
    return EventRecord(e.id, e.run_id, e.release_id, e.ts, e.kind, e.message, e.data)


def _plan(p: t.Plan) -> PlanRecord:
    return PlanRecord(p.digest, p.id, p.environment, p.created_at, p.body, p.git_commit)


def _approval(a: t.Approval) -> ApprovalRecord:
    return ApprovalRecord(a.id, a.plan_digest, a.approver, a.approved_at, a.comment)


def _lock(lk: t.EnvLock) -> EnvLockRecord:
    return EnvLockRecord(
        lk.environment, lk.run_id, lk.holder, lk.host, lk.pid, lk.acquired_at, lk.heartbeat_at, lk.expires_at
    )


def _incident(i: t.Incident, events: tuple[IncidentEventRecord, ...] = ()) -> IncidentRecord:
    return IncidentRecord(
        id=i.id,
        environment=i.environment,
        release_id=i.release_id,
        run_id=i.run_id,
        severity=Severity(i.severity),
        status=IncidentStatus(i.status),
        title=i.title,
        opened_at=i.opened_at,
        acknowledged_at=i.acknowledged_at,
        resolved_at=i.resolved_at,
        escalation_level=i.escalation_level,
        next_escalation_at=i.next_escalation_at,
        rca=i.rca,
        dedup_key=i.dedup_key,
        events=events,
    )


def _incident_event(e: t.IncidentEvent) -> IncidentEventRecord:
    return IncidentEventRecord(e.id, e.incident_id, e.ts, IncidentEventKind(e.kind), e.actor, e.message)


def _notification(n: t.Notification) -> NotificationRecord:
    return NotificationRecord(
        n.id,
        n.ts,
        n.channel,
        n.event_kind,
        n.incident_id,
        n.run_id,
        n.attempts,
        NotificationOutcome(n.outcome),
        n.status_code,
        n.error,
    )


__all__ = ["UNSET", "Ledger", "mask_url", "open_ledger"]
