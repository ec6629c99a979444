"""The four DORA keys per environment over a time window, computed in SQL over the ledger.

Definitions (and where they follow or differ from Google's fourkeys and Apache DevLake) are in
docs/metrics.md. Every query is an aggregate; only one row per environment comes back to Python.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Integer,
    String,
    and_,
    case,
    column,
    exists,
    func,
    literal,
    select,
    text,
    values,
)
from sqlalchemy.sql.elements import ColumnElement

from gripctl.ledger import schema as t
from gripctl.ledger.schema import UTCDateTime
from gripctl.ledger.store import READONLY
from gripctl.metrics.sql import (
    epoch,
    grouped_quantiles,
    indexed_quantiles,
    plus_days,
    seconds_between,
    unindexed,
)

DEPLOY = "deploy"
SUCCEEDED = "succeeded"
FAILED_OUTCOMES = ("failed", "rolled_back", "interrupted")
FINISHED_OUTCOMES = (SUCCEEDED, *FAILED_OUTCOMES)  # `refused` never changed anything; `running` is not over
DURATION_QUANTILES = (0.5, 0.9, 0.99)


class FrequencyBand(StrEnum):
    """fourkeys' deployment frequency buckets (DORA's elite/high/medium/low)."""

    daily = "daily"  # on demand: deploys on at least 3 days in most weeks
    weekly = "weekly"  # most weeks have a deploy
    monthly = "monthly"  # most 30-day periods have a deploy
    yearly = "yearly"  # less often than that


@dataclass(frozen=True)
class Window:
    since: datetime
    until: datetime

    @property
    def days(self) -> float:
        return (self.until - self.since).total_seconds() / 86400

    def to_dict(self) -> dict[str, Any]:
        return {"since": self.since.isoformat(), "until": self.until.isoformat(), "days": round(self.days, 6)}


@dataclass(frozen=True)
class EnvironmentMetrics:
    """One environment's keys. A None key means "no data" (e.g. no deploys), never zero."""

    environment: str
    # deployment frequency
    deploys: int = 0  # successful deploys finished in the window
    deploys_per_day: float | None = None
    deploys_per_week: float | None = None
    frequency_band: FrequencyBand | None = None
    # lead time for changes
    lead_time_seconds: float | None = None  # median over commits
    lead_time_commits: int = 0
    # change failure rate
    change_failure_rate: float | None = None
    failed_deploys: int = 0
    finished_deploys: int = 0
    # time to restore
    time_to_restore_seconds: float | None = None  # median incident opened -> resolved
    incidents_resolved: int = 0
    incidents_unresolved: int = 0
    recovery_seconds: float | None = None  # median failed deploy -> next successful deploy
    recoveries: int = 0
    # deploy duration (all finished deploys in the window) for the Prometheus summary
    duration_quantiles: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DoraReport:
    window: Window
    environments: tuple[EnvironmentMetrics, ...]

    def get(self, environment: str) -> EnvironmentMetrics:
        for m in self.environments:
            if m.environment == environment:
                return m
        raise KeyError(environment)

    def to_dict(self) -> dict[str, Any]:
        return {"window": self.window.to_dict(), "environments": [m.to_dict() for m in self.environments]}


def window(since: datetime | timedelta, until: datetime | None = None) -> Window:
    end = until or datetime.now(UTC)
    start = end - since if isinstance(since, timedelta) else since
    return Window(start, end)


def compute(engine: Engine, win: Window, environments: list[str] | None = None) -> DoraReport:
    """The four keys for each environment (given ones, else every one with deploys or incidents)."""
    with engine.connect().execution_options(**{READONLY: True}) as conn:
        tune_session(conn)
        q = DoraQueries(conn, win, environments)
        found: dict[str, dict[str, Any]] = {e: {} for e in environments or []}
        for env, values in q.all():
            found.setdefault(env, {}).update(values)
        conn.rollback()
    return DoraReport(win, tuple(_finish(env, found[env], win) for env in sorted(found)))


def tune_session(conn: Connection) -> None:
    """Session settings for the metrics transaction only."""
    if conn.dialect.name == "postgresql":
        # Sorting ~100k commits by sha spills to disk at the default 4 MB; SET LOCAL ends with the
        # transaction, so the server's settings for everyone else are untouched.
        conn.execute(text("SET LOCAL work_mem = '64MB'"))


def _finish(env: str, v: dict[str, Any], win: Window) -> EnvironmentMetrics:
    finished = int(v.get("finished", 0))
    deploys = int(v.get("succeeded", 0))
    failed = int(v.get("failed", 0))
    per_day = deploys / win.days if finished and win.days > 0 else None
    return EnvironmentMetrics(
        environment=env,
        deploys=deploys,
        deploys_per_day=_round(per_day, 6),
        deploys_per_week=_round(per_day * 7 if per_day is not None else None, 6),
        frequency_band=_band(v, win) if finished else None,
        lead_time_seconds=_round(v.get("lead_time")),
        lead_time_commits=int(v.get("lead_time_commits", 0)),
        change_failure_rate=_round(failed / finished if finished else None, 6),
        failed_deploys=failed,
        finished_deploys=finished,
        time_to_restore_seconds=_round(v.get("ttr")),
        incidents_resolved=int(v.get("incidents_resolved", 0)),
        incidents_unresolved=int(v.get("incidents_unresolved", 0)),
        recovery_seconds=_round(v.get("recovery")),
        recoveries=int(v.get("recoveries", 0)),
        duration_quantiles={
            k: float(round(x, 3)) for k, x in v.get("durations", {}).items() if x is not None
        },
    )


def _band(v: dict[str, Any], win: Window) -> FrequencyBand:
    # Majority of the window's buckets, as fourkeys takes the median over weeks/months.
    days = max(1, math.ceil(win.days))  # day buckets 0..days-1, weeks and months are counted from them
    weeks, months = math.ceil(days / 7), math.ceil(days / 30)
    if 2 * int(v.get("weeks_3_days", 0)) > weeks:
        return FrequencyBand.daily
    if 2 * int(v.get("weeks_deployed", 0)) > weeks:
        return FrequencyBand.weekly
    if 2 * int(v.get("months_deployed", 0)) > months:
        return FrequencyBand.monthly
    return FrequencyBand.yearly


def _round(x: float | None, digits: int = 3) -> float | None:
    # julianday() arithmetic on SQLite carries ~10 microseconds of float noise; milliseconds are plenty.
    return None if x is None else round(float(x), digits) + 0.0


class DoraQueries:
    def __init__(self, conn: Connection, win: Window, environments: list[str] | None) -> None:
        self.conn = conn
        self.win = win
        self.envs = environments
        self._found: list[str] | None = None
        self.dialect = conn.dialect.name
        r = t.Run.__table__.c
        self.r = r
        self.deploys_in_window = and_(
            r.kind == DEPLOY, r.finished_at >= win.since, r.finished_at < win.until, *self._env(r.environment)
        )

    def _env(self, column: ColumnElement[str]) -> list[ColumnElement[bool]]:
        return [column.in_(self.envs)] if self.envs is not None else []

    def all(self) -> list[tuple[str, dict[str, Any]]]:
        rows: list[tuple[str, dict[str, Any]]] = []
        for query in (self.counts, self.buckets, self.lead_time, self.restore, self.recovery, self.durations):
            rows.extend(query())
        return rows

    def environments(self) -> list[str]:
        """The environments to report: the given ones, else every environment with a run (a skip scan
        of the environment index, one seek per environment instead of reading a million rows)."""
        if self.envs is not None:
            return list(self.envs)
        if self._found is None:
            r, found = self.r, []
            query = select(r.environment).order_by(r.environment).limit(1)
            env = self.conn.execute(query).scalar()
            while env is not None:
                found.append(env)
                env = self.conn.execute(query.where(r.environment > env)).scalar()
            self._found = found
        return self._found

    def counts(self) -> list[tuple[str, dict[str, Any]]]:
        """Successful, failed (incl. linked to an incident) and finished deploys per environment."""
        r, i = self.r, t.Incident.__table__.c
        found: dict[str, dict[str, Any]] = {}
        by_outcome = (
            select(r.environment, r.outcome, func.count())
            .where(self.deploys_in_window, r.outcome.in_(FINISHED_OUTCOMES))
            .group_by(r.environment, r.outcome)
        )
        # An index-only count per (environment, outcome); the incident link only matters for successful
        # deploys (a failed one is failed already) and there are few incidents: join from them.
        for env, outcome, n in self.conn.execute(by_outcome):
            v = found.setdefault(env, {"succeeded": 0, "failed": 0, "finished": 0})
            v["finished"] += n
            v["succeeded" if outcome == SUCCEEDED else "failed"] += n
        # From each linked run (once), its environment if it is a successful deploy in the window: one
        # primary-key lookup per incident, where a join would make PostgreSQL hash the whole runs table.
        run_env = (
            select(r.environment)
            .where(r.id == i.run_id, self.deploys_in_window, r.outcome == SUCCEEDED)
            .scalar_subquery()
        )
        per_run = select(i.run_id, run_env.label("env")).where(i.run_id.is_not(None)).distinct().subquery()
        linked = select(per_run.c.env, func.count()).where(per_run.c.env.is_not(None)).group_by(per_run.c.env)
        for env, n in self.conn.execute(linked):
            found[env]["failed"] += n
        return list(found.items())

    def buckets(self) -> list[tuple[str, dict[str, Any]]]:
        """For the band: weeks with deploys on >= 3 days, weeks with a deploy, 30-day periods with one."""
        r = self.r
        n_days = max(1, math.ceil(self.win.days))
        envs = self.environments()
        if not envs:
            return []
        # One index probe per (environment, day) -- "was there a successful deploy that day?" -- instead
        # of reading every deploy: ~20k seeks for 20 environments over 3 years, however many deploys.
        # The days are generated in SQL: a VALUES list of a thousand days costs more to compile than to run.
        env_values = values(column("env", String()), name="envs").data([(e,) for e in envs])
        ev = env_values.cte("ev")  # a CTE, not an aliased VALUES: SQLite has no `(VALUES ...) AS x (cols)`
        dn = select(literal(0, Integer()).label("day")).cte("dn", recursive=True)
        dn = dn.union_all(select((dn.c.day + 1).label("day")).where(dn.c.day + 1 < n_days))
        since = literal(self.win.since, UTCDateTime())
        deployed = exists().where(
            r.environment == ev.c.env,
            r.kind == DEPLOY,
            r.outcome == SUCCEEDED,
            r.finished_at >= plus_days(since, dn.c.day),
            r.finished_at < plus_days(since, dn.c.day + 1),
            r.finished_at < self.win.until,
        )
        # Probed once: a CTE used twice (weeks and months) is materialised by both databases.
        days = (
            select(ev.c.env.label("env"), dn.c.day.label("day"))
            .select_from(ev.join(dn, literal(True)))  # every (environment, day) pair: a cross join
            .where(deployed)
            .cte("days")
        )
        # One expression object each, used in SELECT and GROUP BY: PostgreSQL matches them textually.
        week = (days.c.day // 7).label("week")
        weeks = (
            select(days.c.env, week, func.count().label("ndays")).group_by(days.c.env, week).subquery("weeks")
        )
        per_week = (
            select(
                weeks.c.env,
                func.count().label("deployed"),
                func.sum(case((weeks.c.ndays >= 3, 1), else_=0)).label("three"),
            )
            .group_by(weeks.c.env)
            .subquery("per_week")
        )
        per_month = (
            select(days.c.env, func.count(func.distinct(days.c.day // 30)).label("months"))
            .group_by(days.c.env)
            .subquery("per_month")
        )
        query = select(per_week.c.env, per_week.c.deployed, per_week.c.three, per_month.c.months).join_from(
            per_week, per_month, per_week.c.env == per_month.c.env
        )
        return [
            (env, {"weeks_deployed": deployed_weeks, "weeks_3_days": three, "months_deployed": months})
            for env, deployed_weeks, three, months in self.conn.execute(query)
        ]

    def lead_time(self) -> list[tuple[str, dict[str, Any]]]:
        """Median over commits of commit time -> finish of the first successful deploy that shipped it,
        read from the stamps finish_run writes (`commits.lead_seconds`, `commits.deployed_at`)."""
        c = t.Commit.__table__.c
        out: list[tuple[str, dict[str, Any]]] = []
        for env in self.environments():
            stamped = [
                c.environment == env,
                c.lead_seconds.is_not(None),
                unindexed(c.deployed_at) >= self.win.since,  # filters: ix_commits_lead gives lead order
                unindexed(c.deployed_at) < self.win.until,
            ]
            n, (median,) = indexed_quantiles(self.conn, c.lead_seconds, stamped, (0.5,))
            if n:
                out.append((env, {"lead_time": median, "lead_time_commits": n}))
        return out

    def restore(self) -> list[tuple[str, dict[str, Any]]]:
        """Incidents opened in the window: median time to resolve the resolved ones; count the others."""
        i = t.Incident.__table__.c
        in_window = and_(
            i.opened_at >= self.win.since, i.opened_at < self.win.until, *self._env(i.environment)
        )
        out: list[tuple[str, dict[str, Any]]] = []
        counts = (
            select(i.environment, func.sum(case((i.resolved_at.is_(None), 1), else_=0)))
            .where(in_window)
            .group_by(i.environment)
        )
        for env, unresolved in self.conn.execute(counts):
            out.append((env, {"incidents_unresolved": unresolved}))
        resolved = (
            select(i.environment.label("env"), seconds_between(i.opened_at, i.resolved_at).label("seconds"))
            .where(in_window, i.resolved_at.is_not(None))
            .subquery("resolved")
        )
        query = grouped_quantiles(resolved, "env", "seconds", (0.5,), self.dialect)
        out.extend((env, {"ttr": q, "incidents_resolved": n}) for env, n, q in self.conn.execute(query))
        return out

    def recovery(self) -> list[tuple[str, dict[str, Any]]]:
        """Failed deploy -> next successful deploy of the environment. Consecutive failures form one
        episode timed from its first failure in the window; episodes not yet recovered are left out.
        finish_run stamps each failed deploy with the success that recovered it (`runs.restored_at`), so
        an episode is a GROUP BY restored_at, read in the order of ix_runs_restored."""
        r = self.r
        episodes = (
            select(
                r.environment.label("env"),
                (epoch(r.restored_at) - epoch(func.min(r.finished_at))).label("seconds"),
            )
            .where(
                r.restored_at.is_not(None),  # only failed deploys carry it
                r.restored_at < self.win.until,
                r.finished_at >= self.win.since,
                r.finished_at < self.win.until,
                *self._env(r.environment),
            )
            .group_by(r.environment, r.restored_at)
            .subquery("episodes")
        )
        query = grouped_quantiles(episodes, "env", "seconds", (0.5,), self.dialect)
        return [(env, {"recovery": q, "recoveries": n}) for env, n, q in self.conn.execute(query)]

    def durations(self) -> list[tuple[str, dict[str, Any]]]:
        """Quantiles of finished deploys' durations, per environment, read from ix_runs_duration."""
        r = self.r
        out: list[tuple[str, dict[str, Any]]] = []
        for env in self.environments():
            finished = [
                r.environment == env,
                r.kind == DEPLOY,
                r.duration_seconds.is_not(None),
                # Filters, not index keys: ix_runs_duration (environment, kind, duration_seconds, ...) must
                # serve this in duration order, not ix_runs_env_kind_outcome_finished and a sort.
                unindexed(r.outcome).in_(FINISHED_OUTCOMES),
                unindexed(r.finished_at) >= self.win.since,
                unindexed(r.finished_at) < self.win.until,
            ]
            n, qs = indexed_quantiles(self.conn, r.duration_seconds, finished, DURATION_QUANTILES)
            if n:
                out.append(
                    (env, {"durations": {str(q): x for q, x in zip(DURATION_QUANTILES, qs, strict=True)}})
                )
        return out


def deploy_totals(engine: Engine, environments: list[str] | None = None) -> list[tuple[str, str, int, float]]:
    """All-time (environment, outcome, count, sum of durations) of deploy runs: Prometheus counters."""
    r = t.Run.__table__.c
    query = (
        select(r.environment, r.outcome, func.count(), func.coalesce(func.sum(r.duration_seconds), 0.0))
        .where(
            r.kind == DEPLOY,
            r.outcome != "running",
            *([r.environment.in_(environments)] if environments else []),
        )
        .group_by(r.environment, r.outcome)
        .order_by(r.environment, r.outcome)
    )
    with engine.connect().execution_options(**{READONLY: True}) as conn:
        return [(env, outcome, int(n), float(s)) for env, outcome, n, s in conn.execute(query)]
