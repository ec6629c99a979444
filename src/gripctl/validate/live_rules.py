"""Checks of the rules gripctl applies to the live cluster: drift ignore rules and Prometheus health queries.

- `drift-ignore`: an ignore rule whose target matches no rendered object is probably a typo (a kind
  spelt wrong, a renamed Deployment) that silently ignores nothing — or will ignore the wrong thing
  later. A warning that points at the rule's line.
- `prometheus-query`: every `health.prometheus` query is handed to the environment's Prometheus to
  parse (nothing is evaluated where the server can parse without running); a rejected query is an
  error at its line, with Prometheus' own words.
- `prometheus-reachable`: when that Prometheus does not answer, the queries are not checked, and the
  report says so as a warning (it is a separate check so that a configured `prometheus-query: error`
  never turns "could not ask" into a failure).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from gripctl.model.types import DriftIgnoreRule, Platform, PrometheusCheck
from gripctl.observe.drift import ObjectRef, target_matches
from gripctl.validate.findings import Finding, Severity
from gripctl.validate.render import RenderedObject

_CLUSTER_SCOPED_HINT = "cluster-scoped objects have no namespace: leave namespace out of the target"


def _ref(obj: RenderedObject) -> ObjectRef:
    return ObjectRef(obj.api_version, obj.kind, obj.namespace, obj.name)


def _labels(obj: RenderedObject) -> dict[str, str]:
    meta = obj.doc.get("metadata") or {}
    labels = meta.get("labels") if isinstance(meta, dict) else None
    return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}


def _rule_finding(rule: DriftIgnoreRule, scope: str) -> Finding:
    loc = rule.location
    target = rule.target
    parts = [
        f"{k}={v}"
        for k, v in (("kind", target.kind), ("name", target.name), ("namespace", target.namespace))
        if v
    ]
    parts += [f"labels {k}={v}" for k, v in target.labels.items()]
    described = ", ".join(parts) or "any object"
    return Finding(
        check="drift-ignore",
        severity=Severity.warning,
        message=f"drift ignore rule matches no object of {scope} (target: {described})",
        release=rule.release,
        file=loc.path if loc else None,
        line=loc.line if loc else None,
        hint="check the target's kind, name, namespace and labels against `helm template`; "
        f"globs are case-sensitive; {_CLUSTER_SCOPED_HINT}",
    )


def drift_rule_findings(
    platform: Platform, objects: Sequence[RenderedObject], selected: Sequence[str] | None
) -> list[Finding]:
    """Rules whose target matches none of the rendered objects they apply to. The global rules are
    only judged when every release was rendered (with --only most objects were not)."""
    findings: list[Finding] = []
    by_release: dict[str, list[RenderedObject]] = {}
    for obj in objects:
        by_release.setdefault(obj.release.id, []).append(obj)

    def matches(rule: DriftIgnoreRule, candidates: Sequence[RenderedObject]) -> bool:
        return any(target_matches(rule.target, _ref(o), _labels(o)) for o in candidates)

    if selected is None:
        for rule in platform.drift_ignore:
            if not matches(rule, objects):
                findings.append(_rule_finding(rule, "any release"))
    for rid, release in platform.releases.items():
        if selected is not None and rid not in selected:
            continue
        for rule in release.drift_ignore:
            if not matches(rule, by_release.get(rid, [])):
                findings.append(_rule_finding(rule, f"release {rid}"))
    return findings


async def prometheus_findings(platforms: Sequence[Platform], selected: Sequence[str] | None) -> list[Finding]:
    """Ask each environment's Prometheus to parse the health queries of the selected releases."""
    answers = await asyncio.gather(*(_environment_queries(p, selected) for p in platforms))
    return [f for found in answers for f in found]


async def _environment_queries(platform: Platform, selected: Sequence[str] | None) -> list[Finding]:
    from gripctl.adapters.prometheus import (  # httpx: imported when there is something to ask
        Prometheus,
        PrometheusError,
        PrometheusUnreachable,
        QueryRejected,
    )

    settings = platform.environment.prometheus
    if settings is None:
        return []
    env = platform.environment.name
    checks: dict[str, tuple[str, PrometheusCheck]] = {}  # query -> (release, check): each asked once
    for rid, release in platform.releases.items():
        if selected is None or rid in selected:
            for check in release.prometheus_checks:
                checks.setdefault(check.query, (rid, check))
    if not checks:
        return []

    async def ask(prom: Prometheus, query: str, rid: str, check: PrometheusCheck) -> Finding | None:
        try:
            await prom.check_query(query)
        except QueryRejected as exc:
            loc = check.location
            return Finding(
                check="prometheus-query",
                severity=Severity.error,
                message=f"health query {check.label!r} does not parse: {exc.reason}",
                release=rid,
                environment=env,
                file=loc.path if loc else platform.config_path.name,
                line=loc.line if loc else None,
                hint=f"fix the query in {platform.config_path.name} (Prometheus at {settings.url} was asked "
                f"to parse {query!r})",
            )
        except PrometheusUnreachable as exc:
            return Finding(
                check="prometheus-reachable",
                severity=Severity.warning,
                message=f"health query {check.label!r} not checked: {exc.message}",
                release=rid,
                environment=env,
                hint=exc.hint,
            )
        return None

    async with Prometheus(settings.url, timeout_seconds=settings.timeout_seconds) as prom:
        try:
            await prom.check_query("vector(1)")  # one probe: "unreachable" is said once, not per query
        except PrometheusError as exc:
            count = f"{len(checks)} health quer{'y' if len(checks) == 1 else 'ies'}"
            return [
                Finding(
                    check="prometheus-reachable",
                    severity=Severity.warning,
                    message=f"not checked: {count} of environment {env} ({exc.message})",
                    environment=env,
                    file=platform.config_path.name,
                    hint=exc.hint,
                )
            ]
        answers = await asyncio.gather(*(ask(prom, q, rid, c) for q, (rid, c) in checks.items()))
    return [f for f in answers if f is not None]
