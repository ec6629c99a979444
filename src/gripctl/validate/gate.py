"""The pre-deployment gate: the error-level checks a deploy runs before anything changes.

The plan has already rendered every selected release with its real values (a render error already
stops the deploy there); the gate adds what a render does not check, on those same renders and
decrypted values: `helm lint` (chart metadata such as a non-SemVer version, template problems) and
the Kubernetes schema of every rendered object. Findings go through the platform's `policies:`
(severities and exceptions) and only errors block. `gripctl validate` runs everything else.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from gripctl.adapters import helm
from gripctl.adapters.helm import Values
from gripctl.model.types import Platform, Release
from gripctl.observe.types import Snapshot
from gripctl.validate import schema
from gripctl.validate.findings import DEFAULT_KUBE_VERSION, Finding, Severity
from gripctl.validate.policy import load_policies
from gripctl.validate.render import parse_lint, parse_manifest, relative
from gripctl.validate.runner import default_concurrency, lint_chunks


async def _lint(
    platform: Platform, chunk: Sequence[Release], values: Values, kube_version: str, limit: asyncio.Semaphore
) -> list[Finding]:
    env = platform.environment.name
    async with limit:
        result = await helm.lint_many_async([r.chart_path for r in chunk], values, kube_version=kube_version)
    findings = parse_lint(result.stdout, {str(r.chart_path): r for r in chunk}, env, platform.root)
    if not result.ok and not any(f.severity is Severity.error for f in findings):
        findings += [
            Finding(
                check="helm-lint",
                severity=Severity.error,
                message=f"helm lint failed: {result.stderr.strip()[:500]}",
                release=r.id,
                environment=env,
                file=relative(r.chart_path, platform.root),
            )
            for r in chunk
        ]
    return findings


async def predeploy_findings(platform: Platform, snap: Snapshot, release_ids: Sequence[str]) -> list[Finding]:
    """The blocking findings for `release_ids`, from the plan's snapshot (empty: the gate is open)."""
    policies = load_policies(platform)
    releases = [platform.release(rid) for rid in release_ids]
    kube_version = snap.kube_version or DEFAULT_KUBE_VERSION
    limit = asyncio.Semaphore(default_concurrency())
    jobs = []
    if policies.enabled("helm-lint"):
        # One `helm lint` per group of charts with the same values (helm's start-up dominates a lint);
        # a release with secrets alone, with the very values the plan decrypted.
        groups: dict[tuple[object, ...], list[Release]] = {}
        for r in releases:
            if snap.desired[r.id].decrypted is not None:
                groups[("secrets", r.id)] = [r]
            else:
                groups.setdefault((r.values_files, tuple(sorted(r.set_values.items()))), []).append(r)
        for members in groups.values():
            first = members[0]
            values = Values(
                files=[f if f.is_absolute() else platform.root / f for f in first.values_files],
                stdin_yaml=snap.desired[first.id].decrypted,
                set_values=dict(first.set_values),
            )
            for chunk in lint_chunks(members, default_concurrency()):
                jobs.append(_lint(platform, chunk, values, kube_version, limit))
    findings = [f for batch in await asyncio.gather(*jobs) for f in batch]
    if policies.enabled("schema"):
        env = platform.environment.name
        objects = [o for r in releases for o in parse_manifest(snap.desired[r.id].manifest, r, env)]
        crds = schema.CrdIndex.from_objects(objects)
        findings += await asyncio.to_thread(
            schema.validate_objects, objects, kube_version, crds, platform.root
        )
    return [f for f in policies.apply(findings) if f.severity is Severity.error and not f.suppressed]
