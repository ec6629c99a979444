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

from sqlalchemy import Connection, Engine, and_, case, exists, func, or_, select, text
from sqlalchemy.sql.elements import ColumnElement

from gripctl.ledger import schema as t
from gripctl.ledger.store import READONLY
from gripctl.metrics.sql import epoch, floor_int, grouped_quantiles, seconds_between

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

    def counts(self) -> list[tuple[str, dict[str, Any]]]:
        """Successful, failed (incl. linked to an incident) and finished deploys per environment."""
        r, i = self.r, t.Incident.__table__.c
        has_incident = exists().where(i.run_id == r.id)
        failed = or_(r.outcome.in_(FAILED_OUTCOMES), has_incident)
        query = (
            select(
                r.environment,
                func.sum(case((r.outcome == SUCCEEDED, 1), else_=0)),
                func.sum(case((failed, 1), else_=0)),
                func.count(),
            )
            .where(self.deploys_in_window, r.outcome.in_(FINISHED_OUTCOMES))
            .group_by(r.environment)
        )
        return [
            (env, {"succeeded": ok, "failed": bad, "finished": n})
            for env, ok, bad, n in self.conn.execute(query)
        ]

    def buckets(self) -> list[tuple[str, dict[str, Any]]]:
        """For the band: weeks with deploys on >= 3 days, weeks with a deploy, 30-day periods with one."""
        r = self.r
        day = floor_int((epoch(r.finished_at) - self.win.since.timestamp()) / 86400.0)
        days = (
            select(r.environment.label("env"), day.label("day"))
            .where(self.deploys_in_window, r.outcome == SUCCEEDED)
            .group_by(r.environment, day)
            .subquery("days")
        )
        # One expression object each, used in SELECT and GROUP BY: PostgreSQL matches them textually.
        week, month = (days.c.day // 7).label("week"), (days.c.day // 30).label("month")
        weeks = (
            select(days.c.env, week, func.count().label("ndays")).group_by(days.c.env, week).subquery("weeks")
        )
        months = select(days.c.env, month).group_by(days.c.env, month).subquery("months")
        out: list[tuple[str, dict[str, Any]]] = []
        week_query = select(
            weeks.c.env, func.count(), func.sum(case((weeks.c.ndays >= 3, 1), else_=0))
        ).group_by(weeks.c.env)
        for env, deployed, three in self.conn.execute(week_query):
            out.append((env, {"weeks_deployed": deployed, "weeks_3_days": three}))
        for env, n in self.conn.execute(select(months.c.env, func.count()).group_by(months.c.env)):
            out.append((env, {"months_deployed": n}))
        return out

    def lead_time(self) -> list[tuple[str, dict[str, Any]]]:
        """Median over commits of commit time -> finish of the first successful deploy that shipped it."""
        r, c = self.r, t.Commit.__table__.c
        per_commit = (
            select(
                r.environment.label("env"),
                # min() before epoch(): one time conversion per commit, not per joined row.
                (epoch(func.min(r.finished_at)) - epoch(func.min(c.committed_at))).label("seconds"),
            )
            .select_from(t.Commit.__table__.join(t.Run.__table__, r.id == c.run_id))
            .where(self.deploys_in_window, r.outcome == SUCCEEDED)
            .group_by(r.environment, c.sha)
            .subquery("per_commit")
        )
        query = grouped_quantiles(per_commit, "env", "seconds", (0.5,), self.dialect)
        return [(env, {"lead_time": q, "lead_time_commits": n}) for env, n, q in self.conn.execute(query)]

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
        episode timed from its first failure in the window; episodes not yet recovered are left out."""
        r = self.r
        # Walking each environment's finished deploys newest first, the earliest success among the rows
        # already seen is the next success after this row: one sort, no correlated subquery.
        next_success = func.min(case((r.outcome == SUCCEEDED, r.finished_at))).over(
            partition_by=r.environment, order_by=(r.finished_at.desc(), r.id.desc()), rows=(None, -1)
        )
        timeline = (
            select(
                r.environment.label("env"),
                r.outcome.label("outcome"),
                r.finished_at.label("failed_at"),
                next_success.label("restored_at"),
            )
            .where(self.deploys_in_window, r.outcome.in_(FINISHED_OUTCOMES))
            .subquery("timeline")
        )
        failures = (
            select(timeline.c.env, timeline.c.failed_at, timeline.c.restored_at)
            .where(timeline.c.outcome.in_(FAILED_OUTCOMES))
            .subquery("failures")
        )
        episodes = (
            select(
                failures.c.env,
                (epoch(failures.c.restored_at) - func.min(epoch(failures.c.failed_at))).label("seconds"),
            )
            .where(failures.c.restored_at.is_not(None))
            .group_by(failures.c.env, failures.c.restored_at)
            .subquery("episodes")
        )
        query = grouped_quantiles(episodes, "env", "seconds", (0.5,), self.dialect)
        return [(env, {"recovery": q, "recoveries": n}) for env, n, q in self.conn.execute(query)]

    def durations(self) -> list[tuple[str, dict[str, Any]]]:
        r = self.r
        finished = (
            select(r.environment.label("env"), r.duration_seconds.label("seconds"))
            .where(self.deploys_in_window, r.outcome.in_(FINISHED_OUTCOMES))
            .subquery("finished")
        )
        query = grouped_quantiles(finished, "env", "seconds", DURATION_QUANTILES, self.dialect)
        return [
            (row[0], {"durations": {str(q): row[2 + k] for k, q in enumerate(DURATION_QUANTILES)}})
            for row in self.conn.execute(query)
        ]


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
