"""The `incidents:` section of gripctl.yaml: severity rules and the escalation path, validated.

```yaml
incidents:
  severity:                 # first matching rule wins; defaults below when absent
    - {environment: production, cause: rollback.failed, severity: P0}
    - {environment: production, cause: deploy.rolled_back, severity: P1}
    - {environment: staging, severity: P2}
  default_severity: P3
  escalation:               # level 0 is notified at once; each `after` is the wait before the next level
    - {level: on-call, after: 15m, notify: [pagerduty-oncall, slack-platform]}
    - {level: infrastructure-lead, after: 30m, notify: [email-leads]}
    - {level: engineering-manager, after: 1h, notify: [email-managers]}
    - {level: cto, notify: [email-cto]}
```
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from gripctl.errors import ConfigError, Location
from gripctl.notify.events import SEVERITIES


class Cause(StrEnum):
    """Why an incident is opened; severity rules match on it."""

    deploy_failed = "deploy.failed"  # failed and left failed (remediation none, or nothing to roll back to)
    deploy_rolled_back = "deploy.rolled_back"  # failed, and the rollback restored a healthy release
    rollback_failed = "rollback.failed"  # failed, and the rollback failed too: the service may be down
    stuck_release = "recovery.stuck_release"  # recovery found a release left pending-* by a crash
    manual = "manual"


@dataclass(frozen=True)
class SeverityRule:
    severity: str
    environment: str = "*"
    cause: str = "*"

    def matches(self, environment: str, cause: Cause) -> bool:
        return fnmatch.fnmatchcase(environment, self.environment) and fnmatch.fnmatchcase(
            str(cause), self.cause
        )


@dataclass(frozen=True)
class EscalationLevel:
    name: str
    notify: tuple[str, ...]
    after_seconds: float | None  # None on the last level: nothing to escalate to


DEFAULT_RULES: tuple[SeverityRule, ...] = (
    SeverityRule("P0", environment="production", cause=Cause.rollback_failed),
    SeverityRule("P0", environment="production", cause=Cause.deploy_failed),
    SeverityRule("P1", environment="production", cause="*"),
    SeverityRule("P2", environment="staging", cause="*"),
)


@dataclass(frozen=True)
class IncidentsConfig:
    rules: tuple[SeverityRule, ...] = DEFAULT_RULES
    default_severity: str = "P3"
    escalation: tuple[EscalationLevel, ...] = ()

    def severity_for(self, environment: str, cause: Cause) -> str:
        for rule in self.rules:
            if rule.matches(environment, cause):
                return rule.severity
        return self.default_severity


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$")
_UNIT = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def parse_duration(value: object, key_path: str) -> float:
    match = _DURATION.match(str(value).strip())
    if not match:
        raise ConfigError(
            f"{value!r} is not a duration",
            hint="write seconds or a number with a unit: 90s, 15m, 1h",
            location=Location("gripctl.yaml", key_path=key_path),
        )
    return float(match.group(1)) * _UNIT[match.group(2)]


def _severity(value: object, key_path: str) -> str:
    if value not in SEVERITIES:
        raise ConfigError(
            f"severity {value!r} is not one of {', '.join(SEVERITIES)}",
            location=Location("gripctl.yaml", key_path=key_path),
        )
    return str(value)


def parse(raw: Mapping[str, Any] | None, channels: Mapping[str, Any]) -> IncidentsConfig:
    raw = raw or {}
    rules: tuple[SeverityRule, ...] = DEFAULT_RULES
    if "severity" in raw:
        rules = tuple(
            SeverityRule(
                severity=_severity(r.get("severity"), f"incidents.severity[{i}].severity"),
                environment=str(r.get("environment", "*")),
                cause=str(r.get("cause", "*")),
            )
            for i, r in enumerate(raw["severity"] or [])
        )
    levels: list[EscalationLevel] = []
    entries = raw.get("escalation") or []
    for i, entry in enumerate(entries):
        where = f"incidents.escalation[{i}]"
        unknown = [c for c in entry.get("notify", []) if c not in channels]
        if unknown:
            raise ConfigError(
                f"escalation level {entry.get('level', i)!r} notifies unknown channel(s) {unknown}",
                hint=f"defined channels: {', '.join(channels) or '(none)'}",
                location=Location("gripctl.yaml", key_path=f"{where}.notify"),
            )
        last = i == len(entries) - 1
        if not last and "after" not in entry:
            raise ConfigError(
                f"escalation level {entry.get('level', i)!r} needs `after`: how long before the next level",
                location=Location("gripctl.yaml", key_path=where),
            )
        levels.append(
            EscalationLevel(
                name=str(entry.get("level", f"level-{i}")),
                notify=tuple(entry.get("notify", [])),
                after_seconds=None if last else parse_duration(entry["after"], f"{where}.after"),
            )
        )
    return IncidentsConfig(
        rules=rules,
        default_severity=_severity(raw.get("default_severity", "P3"), "incidents.default_severity"),
        escalation=tuple(levels),
    )
