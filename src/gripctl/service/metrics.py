"""DORA metrics from the ledger: the four keys per environment over a window, and deploy totals."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gripctl.errors import UsageError
from gripctl.ledger.store import open_ledger
from gripctl.timestamps import parse_time

if TYPE_CHECKING:
    from gripctl.metrics.dora import DoraReport

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def moment(text: str, *, now: datetime, option: str) -> datetime:
    """`90d`/`12h`/`2w` before `now`, or an ISO 8601 date or time (UTC unless it says otherwise)."""
    text = text.strip()
    match = _DURATION.match(text)
    if match:
        return now - timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])
    value = parse_time(text)
    if value is None:
        raise UsageError(
            f"{option} {text!r} is neither a duration nor a date",
            hint=f"use e.g. {option} 90d, {option} 12h, or {option} 2026-01-31T00:00:00Z",
        )
    return value.astimezone(UTC)


@dataclass(frozen=True)
class MetricsRequest:
    root: Path
    environments: Sequence[str] = ()  # empty: every environment in the ledger
    since: str = "90d"  # a duration before `until`, or a date
    until: str | None = None  # a date or a duration before now; None: now
    database_url: str | None = None  # None: the platform's ledger
    totals: bool = False  # also the all-time deploy totals (for the Prometheus exposition)
    now: datetime | None = None


@dataclass
class MetricsResult:
    report: DoraReport
    totals: list[Any] = field(default_factory=list)
    drift: list[tuple[str, str, str, int]] = field(default_factory=list)  # open drift, for the gauge

    def to_dict(self) -> dict[str, Any]:
        return self.report.to_dict()

    def prometheus(self) -> str:
        from gripctl.metrics.prometheus import render

        return render(self.report, self.totals, self.drift)


def metrics(req: MetricsRequest, ledger: Any = None) -> MetricsResult:
    """The four DORA keys per environment (definitions: docs/metrics.md)."""
    from gripctl.metrics.dora import Window

    now = req.now or datetime.now(UTC)
    end = moment(req.until, now=now, option="--until") if req.until else now
    start = moment(req.since, now=end, option="--since")
    if start >= end:
        raise UsageError(
            f"the window is empty: --since {req.since} is not before --until {req.until or 'now'}",
            hint="give a --since earlier than --until",
        )
    envs = list(req.environments) or None
    if ledger is not None:  # a long-running caller's open ledger (the server)
        return _computed(ledger, Window(start, end), envs, req.totals)
    with open_ledger(req.database_url, root=req.root) as opened:
        return _computed(opened, Window(start, end), envs, req.totals)


def _computed(ledger: Any, window: Any, envs: list[str] | None, totals_too: bool) -> MetricsResult:
    from gripctl.metrics import compute, deploy_totals

    report = compute(ledger.engine, window, envs)
    totals = deploy_totals(ledger.engine, envs) if totals_too else []
    drift = (
        [
            (
                d.environment,
                d.release_id,
                str(d.kind),
                len(d.findings) if isinstance(d.findings, list) else 1,
            )
            for d in ledger.open_drift()
            if envs is None or d.environment in envs
        ]
        if totals_too
        else []
    )
    return MetricsResult(report, totals, drift)


# -- the dashboard's views: weekly trends, and the failed changes behind the failure rate -------------


@dataclass(frozen=True)
class WeekPoint:
    week_start: datetime
    deploys: int
    change_failure_rate: float | None
    lead_time_seconds: float | None
    time_to_restore_seconds: float | None
    recovery_seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "week_start": self.week_start.isoformat()}


@dataclass
class Trends:
    weeks: int
    environments: dict[str, list[WeekPoint]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "weeks": self.weeks,
            "environments": {e: [p.to_dict() for p in points] for e, points in self.environments.items()},
        }


@dataclass(frozen=True)
class TrendsRequest:
    root: Path
    environments: Sequence[str] = ()
    weeks: int = 12
    now: datetime | None = None
    database_url: str | None = None


def trends(req: TrendsRequest, ledger: Any = None) -> Trends:
    """The four keys week by week (the last `weeks` whole days' weeks up to now), per environment: the
    same SQL as `metrics`, over one-week windows."""
    from gripctl.metrics import compute
    from gripctl.metrics.dora import Window

    if not 1 <= req.weeks <= 104:
        raise UsageError(f"weeks {req.weeks}: between 1 and 104")
    now = req.now or datetime.now(UTC)
    end = now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    envs = list(req.environments) or None
    out: dict[str, list[WeekPoint]] = {e: [] for e in envs or []}
    led = ledger if ledger is not None else open_ledger(req.database_url, root=req.root)
    for i in range(req.weeks, 0, -1):
        start = end - timedelta(days=7 * i)
        report = compute(led.engine, Window(start, start + timedelta(days=7)), envs)
        for m in report.environments:
            out.setdefault(m.environment, [])
        for env in out:
            try:
                m = report.get(env)
            except KeyError:
                out[env].append(WeekPoint(start, 0, None, None, None))
                continue
            out[env].append(
                WeekPoint(
                    start, m.deploys, m.change_failure_rate, m.lead_time_seconds, m.time_to_restore_seconds
                )
            )
    for env, points in out.items():  # environments first seen in a later week: pad the earlier ones
        missing = req.weeks - len(points)
        if missing > 0:
            starts = [end - timedelta(days=7 * i) for i in range(req.weeks, 0, -1)]
            have = {p.week_start for p in points}
            padded = [WeekPoint(s, 0, None, None, None) for s in starts if s not in have]
            out[env] = sorted(points + padded, key=lambda p: p.week_start)
    return Trends(req.weeks, dict(sorted(out.items())))


@dataclass(frozen=True)
class FailedChange:
    run: Any  # RunRecord
    incidents: list[Any]  # IncidentRecord

    def to_dict(self) -> dict[str, Any]:
        r = self.run
        return {
            "run_id": r.id,
            "environment": r.environment,
            "actor": r.actor,
            "outcome": r.outcome.value,
            "finished_at": r.finished_at.isoformat() if r.finished_at else None,
            "error": r.error,
            "incidents": [
                {"id": i.id, "severity": str(i.severity), "status": str(i.status), "title": i.title}
                for i in self.incidents
            ],
        }


@dataclass
class FailedChanges:
    environment: str
    since: datetime
    until: datetime
    changes: list[FailedChange]

    def to_dict(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "changes": [c.to_dict() for c in self.changes],
        }


def failed_changes(
    root: Path, environment: str, since: str = "90d", until: str | None = None, ledger: Any = None
) -> FailedChanges:
    """The deploys behind an environment's change failure rate, each with the incidents it caused."""
    now = datetime.now(UTC)
    end = moment(until, now=now, option="--until") if until else now
    start = moment(since, now=end, option="--since")
    led = ledger if ledger is not None else open_ledger(root=root)
    runs = led.failed_deploys(environment, start, end)
    linked = led.run_incidents([r.id for r in runs])
    return FailedChanges(environment, start, end, [FailedChange(r, linked.get(r.id, [])) for r in runs])


# DORA's 2023 State of DevOps performance levels (the report's cluster table), key by key.
DAY, WEEK, MONTH = 86400.0, 7 * 86400.0, 30 * 86400.0


def band(key: str, value: float | None) -> str | None:
    """elite | high | medium | low for one key's figure; None without data.

    deployment frequency (deploys per day): on demand (at least daily) elite, at least weekly high, at
    least monthly medium; lead time: under a day elite, a week high, a month medium; change failure rate:
    at most 5 % elite, 10 % high, 15 % medium; failed deployment recovery time: under an hour elite, a day
    high, a week medium."""
    if value is None:
        return None
    if key == "deployment_frequency":
        limits: tuple[float, float, float] = (1.0, 1 / 7, 1 / 30)
        return next(
            (b for b, lim in zip(("elite", "high", "medium"), limits, strict=True) if value >= lim), "low"
        )
    bounds = {
        "lead_time": (DAY, WEEK, MONTH),
        "change_failure_rate": (0.05, 0.10, 0.15),
        "recovery_time": (3600.0, DAY, WEEK),
    }[key]
    return next(
        (b for b, lim in zip(("elite", "high", "medium"), bounds, strict=True) if value <= lim), "low"
    )


def bands(m: Any) -> dict[str, str | None]:
    """The four keys' bands of one environment's EnvironmentMetrics."""
    return {
        "deployment_frequency": band("deployment_frequency", m.deploys_per_day),
        "lead_time": band("lead_time", m.lead_time_seconds),
        "change_failure_rate": band("change_failure_rate", m.change_failure_rate),
        "recovery_time": band("recovery_time", m.recovery_seconds),
    }
