"""gripctl validate: every pre-deployment check of the platform, for every environment, as a report."""

from __future__ import annotations

import asyncio
import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from gripctl.cli.context import state
from gripctl.cli.options import (
    changed_since_option,
    environment_option,
    include_dependents_option,
    include_needs_option,
    only_option,
    selection,
    selector_option,
)
from gripctl.cli.output import to_json
from gripctl.errors import UsageError

# The package loads its checks (Kubernetes schemas, secret scanner, ...) only when `validate` is used.
from gripctl.validate import DEFAULT_KUBE_VERSION, Severity


class ReportFormat(StrEnum):
    text = "text"
    json = "json"
    sarif = "sarif"
    github = "github"


def validate_command(
    ctx: typer.Context,
    environment: Annotated[str | None, environment_option] = None,
    only: Annotated[list[str] | None, only_option] = None,
    include_needs: Annotated[bool, include_needs_option] = False,
    include_dependents: Annotated[bool, include_dependents_option] = False,
    selector: Annotated[list[str] | None, selector_option] = None,
    changed_since: Annotated[str | None, changed_since_option] = None,
    server: Annotated[
        bool,
        typer.Option(
            "--server", help="Render with `helm install --dry-run=server` against the environment's cluster."
        ),
    ] = False,
    base: Annotated[
        str | None,
        typer.Option("--base", help="Git ref to compare charts against: changed charts need a new version."),
    ] = None,
    fail_on: Annotated[
        Severity | None,
        typer.Option(
            "--fail-on", help="Fail on findings at or above this severity (default: policies.fail_on)."
        ),
    ] = None,
    report_format: Annotated[
        ReportFormat | None,
        typer.Option(
            "--format",
            help="text, json, sarif (code scanning) or github (Actions annotations; the default when "
            "GITHUB_ACTIONS=true). Default: text, or json with --output json.",
        ),
    ] = None,
    kube_version: Annotated[
        str, typer.Option("--kube-version", help="Kubernetes version the schemas are checked against.")
    ] = DEFAULT_KUBE_VERSION,
    sarif_file: Annotated[
        Path | None,
        typer.Option(
            "--sarif",
            metavar="FILE",
            help="Also write the report as SARIF to FILE (for code scanning), whatever --format shows.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Check every selected release in every environment (or -e ENV) before it is deployed.

    helm lint and render with the environment's values, Kubernetes schema (and the platform's own CRDs),
    yamllint, secret scanning, workload policies, chart version bumps (--base) and image scanning.
    Exit codes: 0 clean, 1 findings at or above the failing severity, 2 the input itself is broken.
    """
    from gripctl.service.validate import ValidateRequest
    from gripctl.service.validate import validate as run
    from gripctl.validate.report import github_annotations, render_text, to_sarif

    st = state(ctx)
    request = ValidateRequest(
        st.root,
        environment,
        selection(ctx.params),
        server=server,
        base=base,
        fail_on=fail_on,
        kube_version=kube_version,
    )
    fmt = report_format
    if fmt is None:
        if st.output.json:
            fmt = ReportFormat.json
        elif os.environ.get("GITHUB_ACTIONS") == "true":
            fmt = ReportFormat.github
        else:
            fmt = ReportFormat.text
    if st.output.interactive and fmt is ReportFormat.text:
        with st.output.console.status("validating"):
            validation = asyncio.run(run(request))
    else:
        validation = asyncio.run(run(request))
    report, prefix = validation.report, validation.repo_prefix

    if sarif_file is not None:
        try:
            sarif_file.write_text(to_json(to_sarif(report, prefix)) + "\n", encoding="utf-8")
        except OSError as exc:
            raise UsageError(
                f"cannot write the SARIF report to {sarif_file}: {exc.strerror}",
                hint="choose a writable --sarif path",
            ) from None
    if fmt is ReportFormat.json:
        typer.echo(to_json(report.to_dict()))
    elif fmt is ReportFormat.sarif:
        typer.echo(to_json(to_sarif(report, prefix)))
    elif fmt is ReportFormat.github:
        for line in github_annotations(report, prefix):
            typer.echo(line)
        render_text(report, st.output.console)
    else:
        render_text(report, st.output.console)
    # SystemExit rather than typer.Exit: app.main() runs click with standalone_mode=False, where
    # typer.Exit's code is returned, not exited with, and would be lost.
    raise SystemExit(report.exit_code)


def register(app: typer.Typer) -> None:
    """Add `gripctl validate` to the root app."""
    app.command("validate")(validate_command)
