"""gripctl status, history, verify, runs: read-only views of an environment and of the ledger."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import RenderableType
from rich.text import Text

from gripctl.cli.context import state
from gripctl.cli.options import (
    environment_option,
    include_dependents_option,
    include_needs_option,
    only_option,
    selection,
    selector_option,
)
from gripctl.cli.output import Column
from gripctl.errors import DeployError

_HEALTH = {"healthy": "green", "failed": "red", "progressing": "yellow"}


def _yes_no(drift: bool | None) -> Text:
    return {True: Text("yes", style="yellow"), False: Text("no"), None: Text("?", style="dim")}[drift]


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("status")(status)
    app.command("history")(history)
    app.command("verify")(verify)
    runs_app = typer.Typer(help="Past runs and their timelines.", invoke_without_command=True)
    runs_app.callback()(runs)
    runs_app.command("show")(runs_show)
    app.add_typer(runs_app, name="runs")


def status(
    ctx: typer.Context,
    environment: Annotated[str | None, environment_option] = None,
    only: Annotated[list[str] | None, only_option] = None,
    include_needs: Annotated[bool, include_needs_option] = False,
    include_dependents: Annotated[bool, include_dependents_option] = False,
    selector: Annotated[list[str] | None, selector_option] = None,
) -> None:
    """Every release: helm status, revision, chart version, health now, and two kinds of drift: the
    repository vs the release (`repo`: a deploy would change it) and the release vs the live objects
    (`live`: `gripctl drift` shows what). Works without the age key (repo drift is then unknown)."""
    from gripctl.service.status import StatusRequest
    from gripctl.service.status import status as get

    out = state(ctx).output
    result = asyncio.run(get(StatusRequest(state(ctx).root, environment, selection(ctx.params))))
    if out.json:
        out.document(result.to_dict())
        return
    rows: list[list[RenderableType]] = []
    for r in result.rows:
        chart = r.chart_version or "-"
        if r.desired_chart_version and r.chart_version and r.chart_version != r.desired_chart_version:
            chart += f" → {r.desired_chart_version}"
        detail = r.health_reason or (r.drift_reason if r.drift is not False else "") or r.live_drift_reason
        rows.append(
            [
                r.release_id,
                r.status,
                str(r.revision or "-"),
                chart,
                Text(r.health, style=_HEALTH.get(r.health, "dim")),
                _yes_no(r.drift),
                _yes_no(r.live_drift),
                detail,
            ]
        )
    out.table(
        [
            Column("release"),
            Column("status"),
            Column("rev", justify="right"),
            Column("chart"),
            Column("health"),
            Column("repo"),  # the repository differs from the release: a deploy would change it
            Column("live"),  # the live objects differ from the release: `gripctl drift` says how
            Column("detail", flex=True),
        ],
        rows,
    )


def history(
    ctx: typer.Context,
    release_id: Annotated[str, typer.Argument(help="Release id (e.g. 010-cert-manager).")],
    environment: Annotated[str | None, environment_option] = None,
) -> None:
    """A release's helm revisions, newest first, with the gripctl run that made each."""
    from gripctl.service.status import HistoryRequest
    from gripctl.service.status import history as get

    app_state = state(ctx)
    result = asyncio.run(get(HistoryRequest(app_state.root, environment, release_id)))
    out = app_state.output
    if out.json:
        out.document(result.to_dict())
        return
    if not result.revisions:
        out.line(f"{release_id} is not installed in {result.environment}")
        return
    out.table(
        [
            Column("rev", justify="right"),
            Column("status"),
            Column("chart"),
            Column("updated"),
            Column("run"),
            Column("description", flex=True),
        ],
        [
            [str(e.revision), e.status, e.chart, e.updated[:19], f"#{e.run}" if e.run else "-", e.description]
            for e in result.revisions
        ],
    )


def verify(
    ctx: typer.Context,
    environment: Annotated[str | None, environment_option] = None,
    only: Annotated[list[str] | None, only_option] = None,
    include_needs: Annotated[bool, include_needs_option] = False,
    include_dependents: Annotated[bool, include_dependents_option] = False,
    selector: Annotated[list[str] | None, selector_option] = None,
    timeout: Annotated[
        float | None, typer.Option("--timeout", metavar="SECONDS", help="Per release (default: its timeout).")
    ] = None,
) -> None:
    """Run the post-deployment checks now: rollouts, pods, endpoints, HTTP checks."""
    from gripctl.service.status import VerifyRequest
    from gripctl.service.status import verify as check

    app_state = state(ctx)
    result = asyncio.run(check(VerifyRequest(app_state.root, environment, selection(ctx.params), timeout)))
    out = app_state.output
    if out.json:
        out.document(result.to_dict())
    else:
        for r in result.rows:
            mark = Text("ok  ", style="green") if r.ok else Text("FAIL", style="bold red")
            out.console.print(Text.assemble(mark, f" {r.release_id}: {r.reason}"), soft_wrap=True)
    if result.unhealthy:
        raise DeployError(
            f"{len(result.unhealthy)} release(s) unhealthy: "
            + "; ".join(f"{r.release_id}: {r.reason}" for r in result.unhealthy)
        )


def runs(
    ctx: typer.Context,
    environment: Annotated[str | None, environment_option] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", metavar="N", help="How many runs.")] = 20,
) -> None:
    """The latest runs, newest first (the full error: `runs show ID`, `-o wide`, `-o json`)."""
    if ctx.invoked_subcommand is not None:
        return
    from gripctl.service.runs import RunsRequest
    from gripctl.service.runs import runs as get

    app_state = state(ctx)
    result = get(RunsRequest(app_state.root, environment, limit))
    out = app_state.output
    if out.json:
        out.document(result.to_dict())
        return
    out.table(
        [
            Column("run", justify="right"),
            Column("env"),
            Column("kind"),
            Column("actor"),
            Column("started"),
            Column("took", justify="right"),
            Column("outcome"),
            Column("error", flex=True),
        ],
        [
            [
                str(r.id),
                r.environment,
                r.kind.value,
                r.actor,
                f"{r.started_at:%m-%d %H:%M:%S}",
                f"{r.duration_seconds:.1f}s" if r.duration_seconds is not None else "-",
                r.outcome.value,
                " ".join((r.error or "").split()),
            ]
            for r in result.runs
        ],
    )


def runs_show(
    ctx: typer.Context,
    run_id: Annotated[int, typer.Argument(help="Run id from `gripctl runs`.")],
) -> None:
    """One run: its actions and its event timeline."""
    from gripctl.service.runs import run

    app_state = state(ctx)
    record = run(app_state.root, run_id)
    out = app_state.output
    if out.json:
        out.document(record.to_dict())
        return
    out.line(
        f"run {record.id}: {record.kind.value} to {record.environment} by {record.actor}, "
        f"{record.outcome.value}" + (f" — {record.error}" if record.error else "")
    )
    for a in record.actions:
        rev = f"{a.from_revision or '-'} → {a.to_revision or '-'}"
        out.console.print(
            Text(f"  {a.release_id:28} {a.action.value:9} {rev:10} {a.outcome.value}  {a.error or ''}"),
            soft_wrap=True,
        )
    for e in record.events:
        who = f"{e.release_id}: " if e.release_id else ""
        out.console.print(
            Text(f"  {e.ts:%H:%M:%S.%f}"[:-3] + f" {e.kind:15} {who}{e.message}"), soft_wrap=True
        )
