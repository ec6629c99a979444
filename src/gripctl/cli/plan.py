"""gripctl plan and diff: observe the live cluster and show what a deploy would change, per release.

Exit codes (helmfile's `diff --detailed-exitcode`): 0 no changes, 2 changes, 1 error. A broken input
(ConfigError, normally exit 2 elsewhere) exits 1 here, so that 2 always means "there are changes".
"""

from __future__ import annotations

import asyncio
import os
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from gripctl.cli.context import AppState, state
from gripctl.cli.markdown import GITHUB_COMMENT_LIMIT, plan_markdown
from gripctl.cli.options import (
    as_option,
    changed_since_option,
    environment_option,
    include_dependents_option,
    include_needs_option,
    only_option,
    selection,
    selector_option,
)
from gripctl.errors import ExitCode, GripError
from gripctl.model.types import Platform
from gripctl.plan.types import Action, ObjectChange, Plan, ReleasePlan

if TYPE_CHECKING:
    from gripctl.service.plan import PlanRequest, PlanResult

_MARK = {Action.install: "+", Action.upgrade: "~", Action.unlock: "!", Action.blocked: "x", Action.noop: "="}
_STYLE = {
    Action.install: "green",
    Action.upgrade: "yellow",
    Action.unlock: "magenta",
    Action.blocked: "bold red",
    Action.noop: "dim",
}
_CHANGE_MARK = {"added": "+", "changed": "~", "removed": "-"}
_CHANGE_STYLE = {"added": "green", "changed": "yellow", "removed": "red"}


def register(app: typer.Typer) -> None:
    """Add `gripctl plan` and `gripctl diff` to the root app."""
    app.command("plan")(plan)
    app.command("diff")(diff)


class PlanFormat(StrEnum):
    text = "text"
    markdown = "markdown"


def _run_url() -> str | None:
    """The GitHub Actions run this is part of (where the plan artifact is), when running in one."""
    server, repo, run = (
        os.environ.get(k) for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")
    )
    return f"{server}/{repo}/actions/runs/{run}" if server and repo and run else None


def _plan(
    ctx: typer.Context, environment: str | None, out: Path | None, *, record: bool, header: bool = True
) -> PlanResult:
    from gripctl.identity import actor
    from gripctl.service import plan as service

    app_state = state(ctx)
    who = ctx.params.get("who") or actor()
    request = service.PlanRequest(
        app_state.root, environment, selection(ctx.params), out=out, record=record, requested_by=who
    )
    try:
        # diff prints only the diffs, as helm-diff does; markdown is a document of its own
        if header and record and not app_state.output.json:
            _print_header(app_state, request)
        return asyncio.run(service.plan(request) if record else service.diff(request))
    except GripError as exc:
        if exc.exit_code == ExitCode.CHANGES:
            exc.exit_code = ExitCode.FAILED  # 2 means "changes" for plan and diff; any error is 1
        raise


def plan(
    ctx: typer.Context,
    environment: Annotated[str | None, environment_option] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", metavar="FILE", help="Also write the plan as JSON to this file (for `gripctl apply`)."
        ),
    ] = None,
    only: Annotated[list[str] | None, only_option] = None,
    include_needs: Annotated[bool, include_needs_option] = False,
    include_dependents: Annotated[bool, include_dependents_option] = False,
    selector: Annotated[list[str] | None, selector_option] = None,
    changed_since: Annotated[str | None, changed_since_option] = None,
    who: Annotated[str | None, as_option] = None,
    show_unchanged: Annotated[
        bool, typer.Option("--show-unchanged", help="Also list releases that need nothing.")
    ] = False,
    plan_format: Annotated[
        PlanFormat,
        typer.Option(
            "--format",
            help="text for people; markdown for a pull-request comment (summary table, a collapsible diff "
            "per release, the plan id to approve).",
        ),
    ] = PlanFormat.text,
    max_chars: Annotated[
        int,
        typer.Option(
            "--max-chars",
            metavar="N",
            min=2000,
            help="markdown: cut the diffs to stay under N characters (GitHub's comment limit is 65536).",
        ),
    ] = GITHUB_COMMENT_LIMIT,
    details_url: Annotated[
        str | None,
        typer.Option(
            "--details-url",
            metavar="URL",
            help="markdown: where the full plan is when the comment is cut (default in GitHub Actions: "
            "this workflow run).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Compare the repository with the live cluster: per release the action (install, upgrade, unlock,
    nothing), why, and the objects that change. Exit 0: no changes; 2: changes; 1: error."""
    app_state = state(ctx)
    markdown = plan_format is PlanFormat.markdown and not app_state.output.json
    result = _plan(ctx, environment, out, record=True, header=not markdown)
    if app_state.output.json:
        app_state.output.document(result.to_dict())
    elif markdown:
        typer.echo(
            plan_markdown(
                result.plan,
                result.platform.environment,
                context=result.platform.environment.context,
                changed_since=result.changed_since,
                changed=result.changed,
                max_chars=max_chars,
                details_url=details_url or _run_url(),
            ),
            nl=False,
        )
    else:
        if result.changed_since is not None:
            _print_changed(app_state, result.changed_since, result.changed or {})
        _print_plan(app_state, result.plan, show_unchanged=show_unchanged)
        if result.out:
            app_state.output.console.print(Text(f"plan written to {result.out}"), soft_wrap=True)
        if result.recorded:
            app_state.output.line(f"plan {result.plan.id} recorded in the ledger")
    # SystemExit, not typer.Exit: app.main() runs click with standalone_mode=False, where typer.Exit's
    # code is returned rather than exited with, and would be lost.
    raise SystemExit(ExitCode.CHANGES if result.plan.has_changes else ExitCode.OK)


def diff(
    ctx: typer.Context,
    environment: Annotated[str | None, environment_option] = None,
    only: Annotated[list[str] | None, only_option] = None,
    include_needs: Annotated[bool, include_needs_option] = False,
    include_dependents: Annotated[bool, include_dependents_option] = False,
    selector: Annotated[list[str] | None, selector_option] = None,
    changed_since: Annotated[str | None, changed_since_option] = None,
) -> None:
    """The objects a deploy would change, as unified diffs (helm-diff style); records nothing.
    Exit 0: no changes; 2: changes; 1: error."""
    app_state = state(ctx)
    result = _plan(ctx, environment, None, record=False)
    if app_state.output.json:
        app_state.output.document(
            [
                {
                    "release": r.release_id,
                    "action": r.action.value,
                    "changes": [c.__dict__ for c in r.changes],
                }
                for r in result.plan.releases
                if r.changed
            ]
        )
    else:
        for r in result.plan.releases:
            for change in r.changes:
                _print_change(app_state, change, indent="")
    raise SystemExit(ExitCode.CHANGES if result.plan.has_changes else ExitCode.OK)


def _print_header(app_state: AppState, request: PlanRequest) -> None:
    """Which environment and cluster, before the (slower) observation starts."""
    from gripctl.service.workspace import load, selected

    platform = load(request.root, request.environment)
    _print_selection(app_state, platform, selected(platform, request.selection))


def _print_selection(app_state: AppState, platform: Platform, ids: list[str]) -> None:
    if app_state.output.json:
        return
    env = platform.environment
    where = env.context or "the current kubeconfig context"
    console = app_state.output.console
    console.print(
        Text(f"environment {env.name} ({where}): {len(ids)} of {len(platform.releases)} releases selected"),
        soft_wrap=True,
    )
    console.print(Text("  " + ", ".join(ids)), soft_wrap=True)


def _print_changed(app_state: AppState, ref: str, changed: dict[str, str]) -> None:
    """Why --changed-since selected what it did (dependents come along without a line of their own)."""
    console = app_state.output.console
    if not changed:
        console.print(Text(f"nothing changed since {ref}"), soft_wrap=True)
    for rid, why in changed.items():
        console.print(Text(f"changed since {ref}: {rid} ({why})"), soft_wrap=True)


def _print_change(app_state: AppState, change: ObjectChange, indent: str = "    ") -> None:
    console = app_state.output.console
    where = f"{change.namespace}/{change.name}" if change.namespace else change.name
    console.print(
        Text(
            f"{indent}{_CHANGE_MARK.get(change.change, '?')} {change.kind} {where}",
            style=_CHANGE_STYLE.get(change.change, ""),
        ),
        soft_wrap=True,
    )
    for line in change.diff.splitlines():
        style = None
        if line.startswith(("+++", "---")):
            style = "bold"
        elif line.startswith("+"):
            style = "green"
        elif line.startswith("-"):
            style = "red"
        elif line.startswith("@@"):
            style = "cyan"
        console.print(Text(f"{indent}    {line}", style=style or ""), soft_wrap=True)


def _print_release(app_state: AppState, r: ReleasePlan) -> None:
    revision = f" rev {r.live_revision}" if r.live_revision is not None else ""
    head = Text()
    head.append(f"{_MARK[r.action]} {r.release_id} ", style=f"bold {_STYLE[r.action]}")
    head.append(f"{r.action.value}", style=_STYLE[r.action])
    head.append(f"  [{r.namespace}/{r.helm_name}{revision}]  {r.reason}")
    app_state.output.console.print(head, soft_wrap=True)
    for change in r.changes:
        _print_change(app_state, change)


def _print_plan(app_state: AppState, result: Plan, *, show_unchanged: bool) -> None:
    counts: dict[Action, int] = dict.fromkeys(Action, 0)
    for r in result.releases:
        counts[r.action] += 1
        if r.changed or show_unchanged:
            _print_release(app_state, r)
    summary = (
        f"plan {result.id} for {result.environment}: {counts[Action.install]} to install, "
        f"{counts[Action.upgrade]} to upgrade, {counts[Action.unlock]} to unlock, "
        + (f"{counts[Action.blocked]} blocked, " if counts[Action.blocked] else "")
        + f"{counts[Action.noop]} unchanged"
    )
    app_state.output.console.print(Text(summary, style="bold"), soft_wrap=True)
