"""gripctl drift: does the cluster still hold what each release last applied? (docs/drift.md)

Exit codes, like `plan`: 0 no drift, 2 drift, 1 an error (including objects that could not be checked,
and a broken gripctl.yaml, which exits 2 elsewhere).
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import typer
from rich.text import Text

from gripctl.cli.context import AppState, state
from gripctl.cli.options import (
    as_option,
    environment_option,
    include_dependents_option,
    include_needs_option,
    only_option,
    selection,
    selector_option,
    wait_lock_option,
)
from gripctl.errors import ExitCode, GripError

_STATUS_STYLE = {
    "in-sync": "green",
    "drifted": "yellow",
    "absent": "dim",
    "unsettled": "magenta",
    "error": "red",
}
_CHANGE_MARK = {"changed": "~", "removed": "-", "added": "+"}
_VALUE_WIDTH = 60


def register(app: typer.Typer) -> None:
    """Add `gripctl drift` to the root app."""
    app.command("drift")(drift)


def drift(
    ctx: typer.Context,
    environment: Annotated[str | None, environment_option] = None,
    only: Annotated[list[str] | None, only_option] = None,
    include_needs: Annotated[bool, include_needs_option] = False,
    include_dependents: Annotated[bool, include_dependents_option] = False,
    selector: Annotated[list[str] | None, selector_option] = None,
    show_ignored: Annotated[
        bool, typer.Option("--show-ignored", help="Also list differences an ignore rule covers, and why.")
    ] = False,
    concurrency: Annotated[
        int,
        typer.Option(
            "--concurrency", "-j", metavar="N", min=1, max=64, help="API requests in flight at once."
        ),
    ] = 16,
    dry_run_all: Annotated[
        bool,
        typer.Option(
            "--dry-run-all",
            help="Dry-run every object, also those whose live state already holds their whole manifest "
            "(slower; the same answer).",
        ),
    ] = False,
    fix: Annotated[
        bool,
        typer.Option(
            "--fix",
            help="Re-apply the drifted releases through a normal deploy (locked, verified, recorded; the "
            "environment's approval rules apply).",
        ),
    ] = False,
    wait_lock: Annotated[float, wait_lock_option] = 0.0,
    who: Annotated[str | None, as_option] = None,
) -> None:
    """Compare each release's objects, as helm last applied them, with the live cluster (read-only): a
    `kubectl edit`, `kubectl scale`, a removed label or a deleted object shows as drift, server defaults
    do not. Exit 0: no drift; 2: drift; 1: error."""
    from gripctl.service.drift import DriftRequest
    from gripctl.service.drift import drift as run_drift

    app_state = state(ctx)
    request = DriftRequest(
        root=app_state.root,
        environment=environment,
        selection=selection(ctx.params),
        concurrency=concurrency,
        dry_run_all=dry_run_all,
    )
    if fix:
        _fix(ctx, app_state, request, wait_lock, who, show_ignored)
        return
    try:
        result = asyncio.run(run_drift(request))
    except GripError as exc:
        if exc.exit_code == ExitCode.CHANGES:
            exc.exit_code = ExitCode.FAILED  # 2 means "drift" here; any error is 1
        raise
    if app_state.output.json:
        app_state.output.document(result.to_dict())
    else:
        _print(app_state, result, show_ignored=show_ignored)
    # SystemExit, not typer.Exit: see cli/plan.py (click runs without standalone mode).
    raise SystemExit(result.exit_code)


def _fix(
    ctx: typer.Context,
    app_state: AppState,
    request: Any,
    wait_lock: float,
    who: str | None,
    show_ignored: bool,
) -> None:
    """--fix: show the drift, then the deploy that re-applies it; exit like `deploy` (0, or 1 failed)."""
    from gripctl.cli.deploy import confirm_prompt, finish, sinks
    from gripctl.identity import actor
    from gripctl.service.deploy import DeployRequest
    from gripctl.service.drift import fix as run_fix

    out_sinks, lazy = sinks(app_state, request.environment)
    deploy_request = DeployRequest(
        root=request.root,
        environment=request.environment,
        wait_lock=wait_lock,
        actor=who or actor(),
        confirm=confirm_prompt(app_state),
        sinks=out_sinks,
        on_plan=lazy.on_plan if lazy else None,
    )
    result = asyncio.run(run_fix(request, deploy_request))
    if app_state.output.json:
        app_state.output.document(result.to_dict())
    else:
        _print(app_state, result.drift, show_ignored=show_ignored)
    if result.deployment is None:
        if not app_state.output.json:
            app_state.output.line("no drift: nothing to re-apply")
        return
    finish(app_state, result.deployment, document=False)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _value(value: Any) -> str:
    text = (
        json.dumps(value, sort_keys=True, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    )
    return text if len(text) <= _VALUE_WIDTH else text[: _VALUE_WIDTH - 3] + "..."


def _print(app_state: AppState, result: Any, *, show_ignored: bool) -> None:
    console = app_state.output.console
    drifted = [r for r in result.releases if r.drifted_objects]
    where = result.context or "the current kubeconfig context"
    console.print(
        Text(
            f"drift in {result.environment} ({where}): {_count(len(result.releases), 'release')} checked, "
            f"{len(drifted)} drifted, in {result.seconds:.1f}s"
        ),
        soft_wrap=True,
    )
    for release in result.releases:
        revision = f" revision {release.revision}" if release.revision is not None else ""
        line = Text()
        line.append(f"{release.status!s:>9}", style=_STATUS_STYLE.get(str(release.status), ""))
        line.append(f"  {release.release_id}{revision}: {release.message}")
        console.print(line, soft_wrap=True)
        for obj in release.objects:
            state_name = str(obj.state)
            if state_name == "in-sync" and not (show_ignored and obj.ignored):
                continue
            if state_name == "ignored" and not show_ignored:
                continue
            head = Text(f"    {obj.ref}", style="bold" if obj.drifted else "dim")
            if state_name != "drifted" and state_name != "in-sync":
                head.append(f"  {state_name}: {obj.message}", style=_STATUS_STYLE.get(state_name, "red"))
            console.print(head, soft_wrap=True)
            for item in obj.fields:
                owners = f"  (field owned by {', '.join(item.managers)})" if item.managers else ""
                if str(item.change) == "changed":
                    detail = f"live {_value(item.live)}, release {_value(item.desired)}"
                elif str(item.change) == "removed":
                    detail = f"missing live, release {_value(item.desired)}"
                else:
                    detail = f"only live {_value(item.live)}"
                console.print(
                    Text(
                        f"      {_CHANGE_MARK[str(item.change)]} {item.path}  {detail}{owners}",
                        style="yellow",
                    ),
                    soft_wrap=True,
                )
            if show_ignored:
                for ignored in obj.ignored:
                    console.print(
                        Text(f"      = {ignored.path}  ignored by {ignored.rule}", style="dim"),
                        soft_wrap=True,
                    )
