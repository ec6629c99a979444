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


def metrics(req: MetricsRequest) -> MetricsResult:
    """The four DORA keys per environment (definitions: docs/metrics.md)."""
    from gripctl.metrics import compute, deploy_totals
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
    with open_ledger(req.database_url, root=req.root) as ledger:
        report = compute(ledger.engine, Window(start, end), envs)
        totals = deploy_totals(ledger.engine, envs) if req.totals else []
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
            if req.totals
            else []
        )
    return MetricsResult(report, totals, drift)
