"""Policies on rendered workloads: resources, probes, security context, pinned images, NetworkPolicies.

Checks read the pod spec wherever the kind keeps it (Deployment, StatefulSet, DaemonSet, Job,
CronJob, Pod). Effective settings count: `runAsNonRoot` may come from the pod's securityContext.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gripctl.validate.findings import Finding, Severity
from gripctl.validate.render import RenderedObject, line_of, relative

WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod"}
_BATCH_KINDS = {"Job", "CronJob"}  # run to completion: liveness/readiness probes make no sense


def pod_spec(obj: RenderedObject) -> dict[str, Any] | None:
    spec = obj.doc.get("spec") or {}
    if obj.kind == "Pod":
        return spec if isinstance(spec, dict) else None
    if obj.kind == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
    template = (spec.get("template") or {}) if isinstance(spec, dict) else {}
    pod = template.get("spec") if isinstance(template, dict) else None
    return pod if isinstance(pod, dict) else None


def _containers(pod: dict[str, Any], *, init: bool = True) -> Iterator[tuple[str, dict[str, Any]]]:
    keys = ["containers", "initContainers"] if init else ["containers"]
    for key in keys:
        for c in pod.get(key) or []:
            if isinstance(c, dict):
                yield ("init container" if key == "initContainers" else "container"), c


def image_pinned(image: str) -> bool:
    """True for `repo@sha256:...` and `repo:tag` with a tag other than `latest`."""
    if "@" in image:
        return True
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return False
    return last.rsplit(":", 1)[1] not in ("", "latest")


class _Checker:
    def __init__(self, obj: RenderedObject, root: Path) -> None:
        self.obj = obj
        self.root = root
        self.findings: list[Finding] = []

    def add(self, check: str, severity: Severity, message: str, hint: str, *needles: str) -> None:
        obj = self.obj
        self.findings.append(
            Finding(
                check=check,
                severity=severity,
                message=f"{obj.kind}/{obj.name}: {message}",
                release=obj.release.id,
                environment=obj.environment,
                file=relative(obj.template, self.root) if obj.template else None,
                line=line_of(obj.template, *needles, f"kind: {obj.kind}"),
                hint=hint,
                kind=obj.kind,
                name=obj.name,
                annotations=obj.annotations,
            )
        )


def check_workload(obj: RenderedObject, root: Path) -> list[Finding]:
    """Every policy finding for one rendered object (nothing for non-workload kinds)."""
    if obj.kind not in WORKLOAD_KINDS:
        return []
    pod = pod_spec(obj)
    if pod is None:
        return []
    c = _Checker(obj, root)
    pod_sc = pod.get("securityContext") or {}
    for role, container in _containers(pod):
        name = container.get("name", "?")
        who = f"{role} {name!r}"

        resources = container.get("resources") or {}
        missing = [
            f"{part}.{res}"
            for part in ("requests", "limits")
            for res in ("cpu", "memory")
            if not (resources.get(part) or {}).get(res)
        ]
        if missing:
            c.add(
                "resources",
                Severity.error,
                f"{who} has no resources {', '.join(missing)}",
                "set resources.requests and resources.limits (cpu and memory) in the chart's values",
                "resources:",
            )

        if role == "container" and obj.kind not in _BATCH_KINDS:
            absent = [p for p in ("livenessProbe", "readinessProbe") if not container.get(p)]
            if absent:
                c.add(
                    "probes",
                    Severity.warning,
                    f"{who} has no {' or '.join(absent)}",
                    "add probes so that a deploy is verified and a hung process is restarted",
                    "Probe:",
                    "containers:",
                )

        sc = container.get("securityContext") or {}
        problems: list[str] = []
        if sc.get("privileged") is True:
            problems.append("runs privileged")
        if sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is not True:
            problems.append("runAsNonRoot is not true")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append("allowPrivilegeEscalation is not false")
        if sc.get("readOnlyRootFilesystem") is not True:
            problems.append("readOnlyRootFilesystem is not true")
        if problems:
            c.add(
                "security-context",
                Severity.error,
                f"{who} {', '.join(problems)}",
                "set securityContext: {runAsNonRoot: true, allowPrivilegeEscalation: false, "
                "readOnlyRootFilesystem: true} and do not run privileged",
                "privileged:" if sc.get("privileged") is True else "securityContext:",
            )

        image = str(container.get("image") or "")
        if not image_pinned(image):
            why = "has no image" if not image else f"image {image!r} is not pinned (no tag, or :latest)"
            c.add(
                "image-pinned",
                Severity.error,
                f"{who} {why}",
                "pin a version tag (repo:1.2.3) or a digest (repo@sha256:...)",
                "image:",
            )
    return c.findings


def network_policy_findings(
    objects: list[RenderedObject], environment: str | None, root: Path
) -> list[Finding]:
    """One finding per namespace that runs workloads but receives no NetworkPolicy from the platform."""
    covered = {o.namespace for o in objects if o.kind == "NetworkPolicy"}
    running: dict[str, list[RenderedObject]] = {}
    for o in objects:
        if o.kind in WORKLOAD_KINDS:
            running.setdefault(o.namespace, []).append(o)
    findings: list[Finding] = []
    for namespace, workloads in sorted(running.items()):
        if namespace in covered:
            continue
        first = min(workloads, key=lambda o: o.release.order)
        releases = sorted({o.release.id for o in workloads})
        findings.append(
            Finding(
                check="network-policy",
                severity=Severity.warning,
                message=f"namespace {namespace!r} runs workloads ({', '.join(releases)}) "
                "but no release renders a NetworkPolicy for it",
                release=first.release.id,
                environment=environment,
                file=relative(first.release.chart_path, root),
                hint="add a NetworkPolicy (at least default-deny ingress) to one of these charts",
                kind="Namespace",
                name=namespace,
            )
        )
    return findings
