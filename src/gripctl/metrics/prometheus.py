"""The DORA report in Prometheus text exposition format (version 0.0.4), for a textfile collector or
a scrape endpoint.

Gauges carry the window's keys; a key with no data is left out rather than written as NaN, so alert
rules see "absent" instead of a number. `gripctl_deploys_total` and the summary's _sum/_count are
all-time counters (a counter must never go down); the summary's quantiles cover the window.
"""

from __future__ import annotations

from collections.abc import Iterable

from gripctl.metrics.dora import DoraReport

_GAUGES: tuple[tuple[str, str, str], ...] = (
    (
        "gripctl_dora_deployment_frequency_per_day",
        "deploys_per_day",
        "Successful deploys per day in the window.",
    ),
    ("gripctl_dora_deployment_frequency_per_week", "deploys_per_week", "Successful deploys per week."),
    ("gripctl_dora_lead_time_seconds", "lead_time_seconds", "Median commit-to-production time."),
    (
        "gripctl_dora_change_failure_rate",
        "change_failure_rate",
        "Failed or incident-linked deploys / finished.",
    ),
    (
        "gripctl_dora_time_to_restore_seconds",
        "time_to_restore_seconds",
        "Median incident open-to-resolve time.",
    ),
    (
        "gripctl_dora_failed_deployment_recovery_seconds",
        "recovery_seconds",
        "Median time from a failed deploy to the next successful deploy.",
    ),
)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


def _num(x: float) -> str:
    return repr(float(x))


def render(
    report: DoraReport,
    totals: Iterable[tuple[str, str, int, float]],
    drift: Iterable[tuple[str, str, str, int]] = (),
) -> str:
    """Exposition text for the report plus the all-time (environment, outcome, count, seconds) totals,
    and the open drift as (environment, release, kind, drifted objects)."""
    lines: list[str] = []
    for name, attr, help_text in _GAUGES:
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
        for m in report.environments:
            value = getattr(m, attr)
            if value is not None:
                lines.append(f"{name}{_labels(environment=m.environment)} {_num(value)}")
    band = "gripctl_dora_deployment_frequency_band"
    lines += [f"# HELP {band} 1 for the environment's DORA frequency band.", f"# TYPE {band} gauge"]
    for m in report.environments:
        if m.frequency_band is not None:
            lines.append(f"{band}{_labels(environment=m.environment, band=m.frequency_band.value)} 1")

    totals = list(totals)
    summary = "gripctl_deploy_duration_seconds"
    lines += [f"# HELP {summary} Deploy run duration (finished deploys).", f"# TYPE {summary} summary"]
    by_env: dict[str, tuple[int, float]] = {}
    for env, _outcome, count, seconds in totals:
        n, s = by_env.get(env, (0, 0.0))
        by_env[env] = (n + count, s + seconds)
    quantiles = {m.environment: m.duration_quantiles for m in report.environments}
    for env in sorted(set(by_env) | set(quantiles)):
        for q, value in sorted(quantiles.get(env, {}).items()):
            lines.append(f"{summary}{_labels(environment=env, quantile=q)} {_num(value)}")
        n, s = by_env.get(env, (0, 0.0))
        lines.append(f"{summary}_sum{_labels(environment=env)} {_num(s)}")
        lines.append(f"{summary}_count{_labels(environment=env)} {n}")

    counter = "gripctl_deploys_total"
    lines += [f"# HELP {counter} Deploy runs by outcome, all time.", f"# TYPE {counter} counter"]
    for env, outcome, count, _seconds in totals:
        lines.append(f"{counter}{_labels(environment=env, outcome=outcome)} {count}")

    gauge = "gripctl_drift_objects"
    lines += [
        f"# HELP {gauge} Objects of a release that differ from what it applied (kind: repository or live), "
        "as last checked.",
        f"# TYPE {gauge} gauge",
    ]
    for env, release, kind, count in drift:
        lines.append(f"{gauge}{_labels(environment=env, release=release, kind=kind)} {count}")
    return "\n".join(lines) + "\n"
