"""Presenting a validation Report: grouped text (Rich), JSON, SARIF 2.1.0, and GitHub annotations."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import groupby
from typing import Any

from rich.console import Console
from rich.markup import escape

from gripctl import __version__
from gripctl.validate.findings import CHECKS, Finding, Report, Severity

_STYLE = {Severity.error: "bold red", Severity.warning: "yellow", Severity.info: "cyan"}
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def render_text(report: Report, console: Console) -> None:
    """Findings grouped by release (repository-wide ones last), then a one-line summary."""
    for release, group in groupby(report.findings, key=lambda f: f.release):
        items = list(group)
        console.print()
        console.print(f"[bold]{escape(release) if release else 'repository'}[/bold]")
        for f in items:
            console.print(_line(f), soft_wrap=True)
            if f.hint and f.suppressed is None and f.severity is not Severity.info:
                console.print(f"      [dim]hint: {escape(f.hint)}[/dim]", soft_wrap=True)
            if f.suppressed:
                console.print(f"      [dim]suppressed: {escape(f.suppressed)}[/dim]", soft_wrap=True)
    counts = report.counts()
    console.print()
    verdict = (
        f"[bold red]FAILED[/bold red] ({len(report.failing)} finding(s) at or above {report.fail_on})"
        if report.failing
        else "[bold green]OK[/bold green]"
    )
    envs = ", ".join(report.environments)
    console.print(
        f"{verdict}: {counts['error']} error(s), {counts['warning']} warning(s), {counts['info']} info, "
        f"{counts['suppressed']} suppressed — {len(report.releases)} release(s), environment(s): {envs}",
        soft_wrap=True,
    )


def _line(f: Finding) -> str:
    sev = "suppressed" if f.suppressed else f.severity.value
    style = "dim" if f.suppressed else _STYLE[f.severity]
    where = f"{f.location}" if f.location else ""
    env = f" [{f.environment}]" if f.environment else ""
    return (
        f"  [{style}]{sev:<10}[/{style}] [magenta]{escape(f.check)}[/magenta]{escape(env)} "
        f"{escape(where)}{' ' if where else ''}{escape(f.message)}"
    )


def _in_repo(prefix: str, file: str) -> str:
    return file if file.startswith("/") else prefix + file


def _level(severity: Severity) -> str:
    return {Severity.error: "error", Severity.warning: "warning", Severity.info: "note"}[severity]


def to_sarif(report: Report, prefix: str = "") -> dict[str, Any]:
    """A SARIF 2.1.0 log for code scanning; suppressed findings carry a `suppressions` entry.
    `prefix`: the platform's folder in its repository (`platform/`), since code scanning reads paths
    from the repository root."""
    rules = [
        {
            "id": check,
            "name": check,
            "shortDescription": {"text": description},
            "defaultConfiguration": {"level": _level(severity)},
            "helpUri": "https://github.com/webgrip/gripctl/blob/main/docs/validate.md",
        }
        for check, (severity, description) in CHECKS.items()
    ]
    index = {check: i for i, check in enumerate(CHECKS)}
    results = []
    for f in report.findings:
        text = f.message
        if f.release:
            text = f"[{f.release}{'@' + f.environment if f.environment else ''}] {text}"
        if f.hint:
            text += f" (hint: {f.hint})"
        result: dict[str, Any] = {
            "ruleId": f.check,
            "ruleIndex": index[f.check],
            "level": _level(f.severity),
            "message": {"text": text},
            "properties": {"release": f.release, "environment": f.environment},
        }
        if f.file:
            uri = _in_repo(prefix, f.file)
            physical: dict[str, Any] = {"artifactLocation": {"uri": uri, "uriBaseId": "%SRCROOT%"}}
            if f.line:
                physical["region"] = {"startLine": f.line}
            result["locations"] = [{"physicalLocation": physical}]
        if f.suppressed:
            kind = "inSource" if f.suppressed.startswith("annotation") else "external"
            result["suppressions"] = [{"kind": kind, "justification": f.suppressed}]
        results.append(result)
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "gripctl",
                        "version": __version__,
                        "informationUri": "https://github.com/webgrip/gripctl",
                        "rules": rules,
                    }
                },
                "originalUriBaseIds": {"%SRCROOT%": {"uri": "./"}},
                "results": results,
            }
        ],
    }


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_annotations(report: Report, prefix: str = "") -> Iterator[str]:
    """GitHub Actions workflow commands, one per active finding (suppressed ones are not annotated).
    `prefix` as for `to_sarif`: annotations name files from the repository root."""
    for f in report.active:
        command = {Severity.error: "error", Severity.warning: "warning", Severity.info: "notice"}[f.severity]
        props = []
        if f.file:
            props.append(f"file={_escape_property(_in_repo(prefix, f.file))}")
            if f.line:
                props.append(f"line={f.line}")
        title = (
            f.check + (f" {f.release}" if f.release else "") + (f"@{f.environment}" if f.environment else "")
        )
        props.append(f"title={_escape_property(title)}")
        message = f.message + (f"\nhint: {f.hint}" if f.hint else "")
        yield f"::{command} {','.join(props)}::{_escape_data(message)}"
