"""Prometheus health rules decided: a history of query samples and a threshold/`for` rule in, a verdict
with an operator-readable reason out. Pure: the engine polls Prometheus and feeds the samples in.

A rule (`PrometheusCheck`) is breached when a series' value has been outside its bounds (above `max`,
below `min`) continuously for `for_seconds`, as Prometheus alerting rules count `for:` — from the
first sample of the current run of bad samples to the latest one. Until then the verdict is
`pending`. A series whose latest sample is fine resets its run.

No data: a query that returns no series at all means different things for the two kinds of rule.
`error_rate > max` with no series means nothing is failing (`ok`); `up < min` with no series means
nothing is up — so a rule with a `min` treats no data as out of bounds, for `for_seconds` like any
other bad value. NaN is out of bounds for every rule.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from gripctl.model.types import PrometheusCheck

NO_SERIES = "(no data)"


class Verdict(StrEnum):
    ok = "ok"
    pending = "pending"  # out of bounds, not yet for long enough
    breach = "breach"


_RANK = {Verdict.ok: 0, Verdict.pending: 1, Verdict.breach: 2}


@dataclass(frozen=True)
class Evaluation:
    verdict: Verdict
    reason: str  # "query Q = 0.8, above max 0.5 for 30s"
    value: float | None = None  # the latest value of the series the verdict is about
    series: str = ""  # its labels, `{code="500"}`; NO_SERIES when the query returned nothing

    @property
    def breached(self) -> bool:
        return self.verdict is Verdict.breach

    def to_dict(self) -> dict[str, object]:
        value = None if self.value is None or math.isnan(self.value) else self.value
        return {"verdict": str(self.verdict), "reason": self.reason, "value": value, "series": self.series}


def _fmt(value: float) -> str:
    return "NaN" if math.isnan(value) else f"{value:g}"


def _seconds(value: float) -> str:
    whole = round(value)  # Prometheus timestamps carry milliseconds; people read whole seconds
    if whole >= 3600 and whole % 3600 == 0:
        return f"{whole // 3600}h"
    if whole >= 60 and whole % 60 == 0:
        return f"{whole // 60}m"
    return f"{whole}s"


def out_of_bounds(check: PrometheusCheck, value: float | None) -> str | None:
    """Why `value` is outside the rule's bounds ("above max 0.5"), or None when it is within them."""
    if value is None:
        return "no data, below min " + _fmt(check.min) if check.min is not None else None
    if math.isnan(value):
        return "not a number"
    if check.max is not None and value > check.max:
        return f"above max {_fmt(check.max)}"
    if check.min is not None and value < check.min:
        return f"below min {_fmt(check.min)}"
    return None


def evaluate(
    check: PrometheusCheck, samples: Sequence[tuple[float, float | None]], series: str = ""
) -> Evaluation:
    """One series: `samples` are (unix time, value or None for no data), oldest first."""
    # An aggregate has no labels (`{}`): the query alone names it.
    name = f"query {check.label}" + (f" {series}" if series and series not in (NO_SERIES, "{}") else "")
    if not samples:
        return Evaluation(Verdict.ok, f"{name}: not sampled yet", None, series)
    now, latest = samples[-1]
    shown = "no data" if latest is None else _fmt(latest)
    why = out_of_bounds(check, latest)
    if why is None:
        return Evaluation(Verdict.ok, f"{name} = {shown}, within bounds", latest, series)
    start = now
    for when, value in reversed(samples):
        if out_of_bounds(check, value) is None:
            break
        start = when
    lasted = now - start
    text = f"{name} = {shown}" if latest is not None else f"{name}: {shown}"
    reason_why = why.removeprefix("no data, ")
    if lasted >= check.for_seconds:
        span = f" for {_seconds(lasted)}" if round(lasted) > 0 else ""
        return Evaluation(Verdict.breach, f"{text}, {reason_why}{span}", latest, series)
    needs = _seconds(check.for_seconds)
    return Evaluation(
        Verdict.pending, f"{text}, {reason_why} for {_seconds(lasted)} (breach after {needs})", latest, series
    )


@dataclass
class QueryHistory:
    """The samples of one rule over a verification or monitoring window, per series.

    `record(t, values)` takes one poll's answer as {series labels: value}; an empty answer is recorded
    as "no data" so that a rule with a `min` can breach on it.
    """

    check: PrometheusCheck
    samples: dict[str, list[tuple[float, float | None]]] = field(default_factory=dict)

    def record(self, at: float, values: Mapping[str, float]) -> None:
        if not values:
            self.samples.setdefault(NO_SERIES, []).append((at, None))
            return
        self.samples.pop(NO_SERIES, None)  # data is back: the no-data run is over
        for series, value in values.items():
            self.samples.setdefault(series, []).append((at, value))

    def evaluate(self) -> Evaluation:
        """The worst current series (breach over pending over ok; the first in label order on a tie)."""
        if not self.samples:
            return evaluate(self.check, ())
        latest = max(points[-1][0] for points in self.samples.values())
        # A series that vanished from the answers is no longer current: judge only the latest poll's.
        current = {s: p for s, p in self.samples.items() if p[-1][0] == latest}
        results = [evaluate(self.check, points, series) for series, points in sorted(current.items())]
        return max(results, key=lambda e: _RANK[e.verdict])
