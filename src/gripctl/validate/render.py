"""Rendering and linting releases with helm, and mapping rendered objects back to their templates.

Helm marks every rendered document with `# Source: <chart-name>/templates/x.yaml`; the first path
component is the chart's name, the rest is relative to the chart folder. Findings on an object point
at that template, at the first line that mentions the offending field when there is one.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from gripctl import manifest
from gripctl.model.types import Release
from gripctl.validate.findings import Finding, Severity

_LINT_LINE = re.compile(r"^\[(INFO|WARNING|ERROR)\] ([^:]*): ?(.*)$")
# helm's words for a Chart.yaml field: `chart.metadata.version "x" is invalid`, `version 'x' is not ...`
_CHART_FIELD = re.compile(r"\bchart\.metadata\.(\w+)|^(apiVersion|version|name)\b|\b(apiVersion)\b")


def chart_yaml_position(chart_path: Path, message: str, root: Path) -> tuple[str, int] | None:
    """(Chart.yaml, line) when helm's message is about a field of the chart's Chart.yaml: helm names
    neither the file nor the line."""
    match = _CHART_FIELD.search(message)
    if match is None:
        return None
    key = next(g for g in match.groups() if g)
    chart_yaml = chart_path / "Chart.yaml"
    try:
        lines = chart_yaml.read_text(errors="replace").splitlines()
    except OSError:
        return None
    for number, text in enumerate(lines, 1):
        if text.startswith(f"{key}:"):
            return relative(chart_yaml, root), number
    return None


# `template: demo/templates/x.yaml:12:3: executing ...` or `parse error at (demo/templates/x.yaml:41)`
_TEMPLATE_POS = re.compile(r"([\w.-]+/(?:charts/[\w.-]+/)*templates/[^\s:()]+):(\d+)")


@dataclass
class RenderedObject:
    """One Kubernetes object rendered from a release, with the template it came from."""

    doc: dict[str, Any]
    release: Release
    environment: str | None
    template: Path | None  # absolute path of the template file, when it exists on disk

    @property
    def kind(self) -> str:
        return str(self.doc.get("kind", ""))

    @property
    def api_version(self) -> str:
        return str(self.doc.get("apiVersion", ""))

    @property
    def name(self) -> str:
        meta = self.doc.get("metadata") or {}
        return str(meta.get("name", "")) if isinstance(meta, dict) else ""

    @property
    def namespace(self) -> str:
        meta = self.doc.get("metadata") or {}
        ns = meta.get("namespace") if isinstance(meta, dict) else None
        return str(ns) if ns else self.release.namespace

    @property
    def annotations(self) -> dict[str, str]:
        meta = self.doc.get("metadata") or {}
        ann = meta.get("annotations") if isinstance(meta, dict) else None
        return {str(k): str(v) for k, v in ann.items()} if isinstance(ann, dict) else {}


@dataclass
class RenderResult:
    release: Release
    environment: str | None
    objects: list[RenderedObject] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


def relative(path: Path, root: Path) -> str:
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def template_path(chart_path: Path, source: str) -> Path:
    """`demo/templates/x.yaml` -> <chart_path>/templates/x.yaml (the first component is the chart name)."""
    parts = source.split("/", 1)
    return chart_path / (parts[1] if len(parts) == 2 else parts[0])


@cache
def _template_lines(path: Path) -> tuple[str, ...]:
    try:
        return tuple(path.read_text(errors="replace").splitlines())
    except OSError:
        return ()


def line_of(template: Path | None, *needles: str) -> int | None:
    """The first line of `template` that contains any of `needles` (tried in order), 1-based."""
    if template is None:
        return None
    lines = _template_lines(template)
    for needle in needles:
        for i, text in enumerate(lines, 1):
            if needle in text:
                return i
    return None


def parse_manifest(text: str, release: Release, environment: str | None) -> list[RenderedObject]:
    """helm's multi-document output as objects, each tagged with its template file."""
    return [
        RenderedObject(
            m.obj, release, environment, template_path(release.chart_path, m.source) if m.source else None
        )
        for m in manifest.parse(text, what=f"the rendered manifest of {release.id}")
    ]


def manifest_from_dry_run(stdout: str) -> str:
    """The rendered manifest out of `helm install --dry-run=server --output json`."""
    data = json.loads(stdout or "{}")
    return str(data.get("manifest", "")) if isinstance(data, dict) else ""


def render_failure(
    message: str, release: Release, environment: str | None, root: Path, *, secrets_note: str | None
) -> Finding:
    """A finding for a chart that does not render, pointing at the template line helm names."""
    detail = message.strip().removeprefix("Error: ").splitlines()
    text = "; ".join(line for line in detail if line.strip() and not line.startswith("Use --debug"))
    file: str | None = relative(release.chart_path, root)
    line: int | None = None
    if match := _TEMPLATE_POS.search(message):
        file = relative(template_path(release.chart_path, match.group(1)), root)
        line = int(match.group(2))
    elif at := chart_yaml_position(release.chart_path, text, root):
        file, line = at
    hint = "run `helm template` on the chart with the same values to see the full error"
    if secrets_note:
        hint += f"; note: {secrets_note}"
    return Finding(
        check="render",
        severity=Severity.error,
        message=f"chart does not render: {text}",
        release=release.id,
        environment=environment,
        file=file,
        line=line,
        hint=hint,
    )


def parse_lint(output: str, charts: dict[str, Release], environment: str | None, root: Path) -> list[Finding]:
    """Turn `helm lint` output (one `==> Linting <chart>` section per chart) into findings."""
    levels = {"INFO": Severity.info, "WARNING": Severity.warning, "ERROR": Severity.error}
    findings: list[Finding] = []
    current: Release | None = None
    last: Finding | None = None
    for raw in output.splitlines():
        if raw.startswith("==> Linting "):
            current = charts.get(raw.removeprefix("==> Linting ").strip())
            last = None
            continue
        if current is None:
            continue
        if raw.startswith("\t") and last is not None:
            # helm continues a message on tab-indented lines
            last = last.with_(message=f"{last.message}; {raw.strip()}")
            if last.line is None and (at := chart_yaml_position(current.chart_path, raw.strip(), root)):
                last = last.with_(file=at[0], line=at[1])
            findings[-1] = last
            continue
        match = _LINT_LINE.match(raw)
        if not match:
            continue
        level, where, message = match.groups()
        if level == "INFO":
            continue  # helm's advice ("icon is recommended"): not a finding anyone acts on before a deploy
        file = relative(current.chart_path / where, root) if where and where != "templates/" else None
        line: int | None = None
        if pos := _TEMPLATE_POS.search(message):
            file = relative(template_path(current.chart_path, pos.group(1)), root)
            line = int(pos.group(2))
        elif (file in (None, relative(current.chart_path, root)) or file.endswith("Chart.yaml")) and (
            at := chart_yaml_position(current.chart_path, message, root)
        ):
            file, line = at
        if file is None:
            file = relative(current.chart_path, root)
        last = Finding(
            check="helm-lint",
            severity=levels[level],
            message=message,
            release=current.id,
            environment=environment,
            file=file,
            line=line,
            hint="run `helm lint` on the chart for details" if level != "INFO" else None,
        )
        findings.append(last)
    return findings


# `(namespace/name; apps/v1, Kind=Deployment)` in kubectl's server-side apply errors
_SERVER_OBJECT = re.compile(r"\(([^/;()]*)/([^;()]+); [^,()]+, Kind=(\w+)\)")
_SERVER_NAMED = re.compile(r'name: "([^"]*)".*no matches for kind "(\w+)"')


def server_findings(
    stderr: str, release: Release, environment: str | None, objects: list[RenderedObject], root: Path
) -> list[Finding]:
    """Findings from `kubectl apply --dry-run=server` errors: one per rejected object.

    Kinds the server does not know yet (their CRD comes with this deploy) and namespaces that do not
    exist yet (created at deploy) are notes, not errors: the offline checks still covered those objects.
    """
    blocks: list[str] = []
    for line in stderr.splitlines():
        if not line.strip():
            continue
        if blocks and (line[0].isspace() or line.startswith("ensure CRDs")):
            blocks[-1] += "\n" + line  # continuation of the previous error
        else:
            blocks.append(line)
    by_key = {(o.kind, o.name): o for o in objects}
    findings: list[Finding] = []
    for block in blocks:
        kind = name = None
        if match := _SERVER_OBJECT.search(block):
            name, kind = match.group(2), match.group(3)
        elif match := _SERVER_NAMED.search(block):
            name, kind = match.group(1), match.group(2)
        obj = by_key.get((kind or "", name or ""))
        text = " ".join(part.strip() for part in block.splitlines())
        severity, hint = (
            Severity.error,
            "fix the template or values: the API server would reject this at deploy",
        )
        if "no matches for kind" in block:
            severity, hint = Severity.info, "its CRD is installed by the deploy; validated offline against it"
        elif re.search(r'namespaces "[^"]+" not found', block):
            severity, hint = (
                Severity.info,
                "the namespace is created at deploy; objects were validated offline",
            )
        findings.append(
            Finding(
                check="server-validate",
                severity=severity,
                message=f"API server dry run: {text[:500]}",
                release=release.id,
                environment=environment,
                file=relative(obj.template, root)
                if obj and obj.template
                else relative(release.chart_path, root),
                line=line_of(obj.template, f"kind: {obj.kind}") if obj else None,
                hint=hint,
                kind=kind,
                name=name,
                annotations=obj.annotations if obj else {},
            )
        )
    return findings
