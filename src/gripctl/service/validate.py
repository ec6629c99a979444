"""Validation of the platform: every pre-deployment check, for every environment (or one), as a report."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from gripctl.adapters import git
from gripctl.model.graph import Graph
from gripctl.model.loader import environment_names
from gripctl.model.selection import Selection, select
from gripctl.service.workspace import changes_since, load
from gripctl.validate.findings import DEFAULT_KUBE_VERSION, Report, Severity


@dataclass(frozen=True)
class ValidateRequest:
    root: Path
    environment: str | None = None  # None: every declared environment
    selection: Selection = field(default_factory=Selection)
    server: bool = False  # render with `helm install --dry-run=server` against the environment's cluster
    base: str | None = None  # git ref: changed charts need a new version
    fail_on: Severity | None = None  # None: policies.fail_on
    kube_version: str = DEFAULT_KUBE_VERSION


@dataclass
class Validation:
    report: Report
    environments: int
    releases: int
    changed: dict[str, str] | None = None  # --changed-since: release id -> why it was selected
    repo_prefix: str = ""  # the platform's folder in its git repository ("" at its root or outside git)


async def validate(req: ValidateRequest) -> Validation:
    from gripctl.validate.runner import Options
    from gripctl.validate.runner import validate as run_checks

    names: list[str | None] = (
        [req.environment] if req.environment else [*environment_names(req.root)] or [None]
    )
    platforms = [load(req.root, name) for name in names]
    first = platforms[0]
    chosen = None
    changed = None
    if req.selection.narrowed:
        s = req.selection
        if s.changed_since:  # a values file of any environment counts: every one is validated
            changed = changes_since(platforms, s.changed_since)
        chosen = select(
            first,
            Graph.from_platform(first),
            only=list(s.only),
            include_needs=s.include_needs,
            include_dependents=s.include_dependents,
            selectors=list(s.selectors),
            changed=list(changed) if changed is not None else None,
        )
    options = Options(server=req.server, base=req.base, fail_on=req.fail_on, kube_version=req.kube_version)
    report = await run_checks(platforms, chosen, options)
    return Validation(
        report,
        len(platforms),
        len(chosen) if chosen is not None else len(first.releases),
        changed,
        repo_prefix(req.root),
    )


def repo_prefix(root: Path) -> str:
    """`platform/` for a platform in that folder of its git repository; "" at the root or outside git.
    Code scanning and workflow annotations name files from the repository root."""
    top = git.toplevel(root)
    if top is None:
        return ""
    relative = root.resolve().relative_to(top.resolve()).as_posix()
    return "" if relative == "." else relative + "/"
