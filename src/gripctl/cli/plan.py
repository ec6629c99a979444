"""gripctl plan: observe the live cluster and show what a deploy would change, per release.

Exit codes (helmfile's `diff --detailed-exitcode`): 0 no changes, 2 changes, 1 error. A broken input
(ConfigError, normally exit 2 elsewhere) exits 1 here, so that 2 always means "there are changes".
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from gripctl.cli.context import AppState, state
from gripctl.cli.selection import (
    apply_selection,
    environment_option,
    include_dependents_option,
    include_needs_option,
    only_option,
    selector_option,
)
from gripctl.errors import ExitCode, GripError, UsageError
from gripctl.model import Graph, Platform, load_platform
from gripctl.plan.serialize import plan_to_dict, plan_to_json
from gripctl.plan.types import Action, ObjectChange, Plan, ReleasePlan

_MARK = {Action.install: "+", Action.upgrade: "~", Action.unlock: "!", Action.noop: "="}
_STYLE = {Action.install: "green", Action.upgrade: "yellow", Action.unlock: "magenta", Action.noop: "dim"}
_CHANGE_MARK = {"added": "+", "changed": "~", "removed": "-"}
_CHANGE_STYLE = {"added": "green", "changed": "yellow", "removed": "red"}


def register(app: typer.Typer) -> None:
    """Add `gripctl plan` to the root app."""
    app.command("plan")(plan)


def plan(
    ctx: typer.Context,
    environment: Annotated[str | None, environment_option] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Also write the plan as JSON to this file (for `gripctl apply PLAN`)."),
    ] = None,
    only: Annotated[list[str] | None, only_option] = None,
    include_needs: Annotated[bool, include_needs_option] = False,
    include_dependents: Annotated[bool, include_dependents_option] = False,
    selector: Annotated[list[str] | None, selector_option] = None,
    show_unchanged: Annotated[
        bool, typer.Option("--show-unchanged", help="Also list releases that need nothing.")
    ] = False,
) -> None:
    """Compare the repository with the live cluster: per release the action (install, upgrade, unlock,
    nothing), why, and the objects that change. Exit 0: no changes; 2: changes; 1: error."""
    # Observing the cluster needs the kubernetes client: imported here, not for `--help`.
    from gripctl.observe import snapshot, target_for
    from gripctl.plan.compute import compute_plan

    app_state = state(ctx)
    try:
        platform = load_platform(app_state.root, environment)
        graph = Graph.from_platform(platform)
        ids = apply_selection(platform, graph, only, include_needs, include_dependents, selector)
        if not ids:
            raise UsageError(
                "the selection matches no release", hint="check --only/--selector against `gripctl graph`"
            )
        _print_selection(app_state, platform, ids)
        snap = asyncio.run(
            snapshot(platform, ids, target_for(platform), concurrency=platform.environment.concurrency)
        )
        result = compute_plan(platform, snap, ids)
        saved_file = _write_out(result, out)
        recorded = _save_to_ledger(platform, result)
    except GripError as exc:
        if exc.exit_code == ExitCode.CHANGES:
            exc.exit_code = ExitCode.FAILED  # 2 means "changes" for plan; any error is 1
        raise
    if app_state.output.json:
        app_state.output.document({**plan_to_dict(result), "out": saved_file, "ledger": recorded})
    else:
        _print_plan(app_state, result, show_unchanged=show_unchanged)
        if saved_file:
            app_state.output.console.print(Text(f"plan written to {saved_file}"), soft_wrap=True)
        if recorded:
            app_state.output.line(f"plan {result.id} recorded in the ledger")
    # SystemExit, not typer.Exit: app.main() runs click with standalone_mode=False, where typer.Exit's
    # code is returned rather than exited with, and would be lost.
    raise SystemExit(ExitCode.CHANGES if result.has_changes else ExitCode.OK)


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


def _print_change(app_state: AppState, change: ObjectChange) -> None:
    console = app_state.output.console
    where = f"{change.namespace}/{change.name}" if change.namespace else change.name
    console.print(
        Text(
            f"    {_CHANGE_MARK.get(change.change, '?')} {change.kind} {where}",
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
        console.print(Text(f"        {line}", style=style or ""), soft_wrap=True)


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
        f"{counts[Action.noop]} unchanged"
    )
    app_state.output.console.print(Text(summary, style="bold"), soft_wrap=True)


def _write_out(result: Plan, out: Path | None) -> str | None:
    if out is None:
        return None
    try:
        out.write_text(plan_to_json(result))
    except OSError as exc:
        raise UsageError(
            f"cannot write the plan to {out}: {exc.strerror}", hint="choose a writable --out path"
        ) from None
    return str(out)


def _save_to_ledger(platform: Platform, result: Plan) -> bool:
    from gripctl.ledger import DATABASE_URL_ENV, open_ledger
    from gripctl.ledger.store import configured_url

    # `plan` alone never creates a ledger: it saves only to one that is configured or already there.
    configured = os.environ.get(DATABASE_URL_ENV) or configured_url(platform.root)
    if not configured and not (platform.root / ".gripctl" / "ledger.sqlite").is_file():
        return False
    ledger = open_ledger(root=platform.root)
    ledger.save_plan(result.digest, result.environment, plan_to_dict(result), result.git_commit)
    return True
