"""gripctl apply, deploy, approve, status, history, rollback, verify, recover, runs.

Thin: options in, `gripctl.engine.service` calls, output out. Progress is rendered by event sinks
(Rich Live on a terminal, timestamped lines without one, JSON lines with `--output json`, plus a
GitHub Actions job summary when $GITHUB_STEP_SUMMARY is set). Exit codes: 0 success, 1 the deploy
failed (after remediation) or was refused (approval), 64 usage, 75 the environment is locked.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from gripctl.cli.context import AppState, state
from gripctl.cli.selection import (
    environment_option,
    include_dependents_option,
    include_needs_option,
    only_option,
    selector_option,
    split_only,
)
from gripctl.engine.events import EngineEvent, EventSink, Phase
from gripctl.engine.options import OnFailure
from gripctl.errors import DeployError, UsageError
from gripctl.ledger.types import RunOutcome
from gripctl.model.types import Platform
from gripctl.plan.types import Plan

# The engine, its progress sinks and the ledger pull in kubernetes and SQLAlchemy: each command imports
# what it uses in its body, so that `--help` and the ledger-only commands do not pay for the rest.
if TYPE_CHECKING:
    from gripctl.engine.progress import LiveSink
    from gripctl.engine.runner import RunResult

concurrency_option = typer.Option(
    "--concurrency", "-j", help="Releases deployed at once (default: the environment's, else 4).", min=1
)
serial_option = typer.Option("--serial", help="One release at a time, in topological order.")
on_failure_option = typer.Option(
    "--on-failure",
    help="halt: finish running releases, start nothing new (dependents skipped); "
    "rollback-run: also roll back every release this run changed.",
)
wait_lock_option = typer.Option(
    "--wait-lock", help="Wait up to SECONDS for another run's environment lock instead of failing.", min=0
)
as_option = typer.Option(
    "--as", help="Your identity for approvals and the ledger (default: GRIPCTL_USER or $USER)."
)
monitor_option = typer.Option(
    "--monitor", help="Override the environment's monitoring window after healthy (seconds).", min=0
)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("deploy")(deploy)
    app.command("apply")(apply)
    app.command("approve")(approve)
    app.command("status")(status)
    app.command("history")(history)
    app.command("rollback")(rollback)
    app.command("verify")(verify)
    app.command("recover")(recover)
    runs_app = typer.Typer(help="Past runs and their timelines.", invoke_without_command=True)
    runs_app.callback()(runs)
    runs_app.command("show")(runs_show)
    app.add_typer(runs_app, name="runs")


def wire_incidents() -> None:
    """Plug incidents and notifications into every run that changes the cluster: the sink module
    registers its engine sink factory when imported. Call before the engine starts a run."""
    import gripctl.incidents.sink  # noqa: F401


# -- progress ----------------------------------------------------------------------------------------


class _LazyLive:
    """Plain lines until the first release event, then a Rich Live table (so that an approval prompt
    before the run is not drawn over)."""

    def __init__(self, app_state: AppState) -> None:
        from gripctl.engine.progress import PlainSink

        self.app_state = app_state
        self.plain = PlainSink(app_state.output)
        self.live: LiveSink | None = None
        self.ids: list[str] = []
        self.needs: dict[str, tuple[str, ...]] = {}

    def on_plan(self, _platform: Platform, plan: Plan) -> None:
        self.ids = [rp.release_id for rp in plan.releases]
        self.needs = {rp.release_id: rp.needs for rp in plan.releases}

    def handle(self, event: EngineEvent) -> None:
        from gripctl.engine.progress import LiveSink

        if self.live is None and event.release_id and self.ids:
            self.live = LiveSink(self.app_state.output, self.ids, self.needs)
        (self.live or self.plain).handle(event)

    def close(self) -> None:
        if self.live is not None:
            self.live.close()


def _sinks(app_state: AppState, environment: str | None) -> tuple[list[EventSink], _LazyLive | None]:
    from gripctl.engine.progress import GithubSummarySink, JsonSink, PlainSink

    sinks: list[EventSink] = []
    lazy: _LazyLive | None = None
    if app_state.output.json:
        sinks.append(JsonSink(app_state.output))
    elif app_state.output.interactive:
        lazy = _LazyLive(app_state)
        sinks.append(lazy)
    else:
        sinks.append(PlainSink(app_state.output))
    if summary := os.environ.get("GITHUB_STEP_SUMMARY"):
        sinks.append(GithubSummarySink(Path(summary), environment or "default"))
    return sinks, lazy


def _confirm(app_state: AppState) -> Any:
    if not app_state.output.interactive:
        return None

    def ask(summary: str) -> bool:
        app_state.output.console.print(Text(summary), soft_wrap=True)
        return typer.confirm("Deploy this plan?", default=False)

    return ask


def _finish(app_state: AppState, result: RunResult, plan_id: str) -> None:
    if app_state.output.json:
        app_state.output.document(
            {
                "run_id": result.run_id,
                "plan": plan_id,
                "outcome": result.outcome.value,
                "seconds": round(result.seconds, 3),
                "releases": {
                    r.id: {"phase": r.phase.value, "reason": r.reason, "revision": r.to_revision}
                    for r in result.releases.values()
                },
            }
        )
    else:
        app_state.output.line(
            f"run {result.run_id} {result.outcome.value} in {result.seconds:.1f}s: {result.summary()}",
            style="green" if result.outcome is RunOutcome.succeeded else "red",
        )
    if result.outcome is not RunOutcome.succeeded:
        # Rolled-back and uninstalled releases failed too: their reason (the pod, its state) is the news.
        troubled = [r for r in result.releases.values() if r.reason and r.phase in _TROUBLED]
        reasons = "; ".join(f"{r.id} ({r.phase.value}): {r.reason}" for r in troubled)
        raise DeployError(
            f"deploy {result.outcome.value}" + (f": {reasons}" if reasons else ""),
            hint=f"the timeline: `gripctl runs show {result.run_id}`",
        )


_TROUBLED = (Phase.failed, Phase.rolled_back, Phase.uninstalled)


def _run_deploy(
    ctx: typer.Context,
    environment: str | None,
    *,
    plan_file: Path | None,
    only: list[str] | None,
    include_needs: bool,
    include_dependents: bool,
    selector: list[str] | None,
    concurrency: int | None,
    serial: bool,
    on_failure: OnFailure,
    wait_lock: float,
    who: str | None,
    monitor: float | None,
) -> None:
    wire_incidents()
    from gripctl.engine.locks import actor
    from gripctl.engine.service import DeployRequest
    from gripctl.engine.service import deploy as run

    app_state = state(ctx)
    saved: Plan | None = None
    if plan_file is not None:
        from gripctl.plan.serialize import plan_from_json

        try:
            text = plan_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot read plan file {plan_file}: {exc.strerror}") from None
        saved = plan_from_json(text, source=str(plan_file))
        environment = environment or saved.environment
    sinks, lazy = _sinks(app_state, environment)
    request = DeployRequest(
        root=app_state.root,
        environment=environment,
        only=split_only(only),
        include_needs=include_needs,
        include_dependents=include_dependents,
        selectors=list(selector or ()),
        concurrency=concurrency,
        serial=serial,
        on_failure=on_failure,
        wait_lock=wait_lock,
        monitor_seconds=monitor,
        actor=who or actor(),
        saved_plan=saved,
        confirm=_confirm(app_state),
        sinks=sinks,
        on_plan=lazy.on_plan if lazy else None,
    )
    deployment = asyncio.run(run(request))
    _finish(app_state, deployment.result, deployment.plan.id)


def deploy(
    ctx: typer.Context,
    environment: Annotated[str | None, environment_option] = None,
    only: Annotated[list[str] | None, only_option] = None,
    include_needs: Annotated[bool, include_needs_option] = False,
    include_dependents: Annotated[bool, include_dependents_option] = False,
    selector: Annotated[list[str] | None, selector_option] = None,
    concurrency: Annotated[int | None, concurrency_option] = None,
    serial: Annotated[bool, serial_option] = False,
    on_failure: Annotated[OnFailure, on_failure_option] = OnFailure.halt,
    wait_lock: Annotated[float, wait_lock_option] = 0.0,
    who: Annotated[str | None, as_option] = None,
    monitor: Annotated[float | None, monitor_option] = None,
) -> None:
    """Plan, approve and apply: deploy the selected releases in dependency order, verify, remediate."""
    _run_deploy(
        ctx,
        environment,
        plan_file=None,
        only=only,
        include_needs=include_needs,
        include_dependents=include_dependents,
        selector=selector,
        concurrency=concurrency,
        serial=serial,
        on_failure=on_failure,
        wait_lock=wait_lock,
        who=who,
        monitor=monitor,
    )


def apply(
    ctx: typer.Context,
    plan_file: Annotated[Path, typer.Argument(help="A plan written by `gripctl plan --out plan.json`.")],
    environment: Annotated[str | None, environment_option] = None,
    concurrency: Annotated[int | None, concurrency_option] = None,
    serial: Annotated[bool, serial_option] = False,
    on_failure: Annotated[OnFailure, on_failure_option] = OnFailure.halt,
    wait_lock: Annotated[float, wait_lock_option] = 0.0,
    who: Annotated[str | None, as_option] = None,
    monitor: Annotated[float | None, monitor_option] = None,
) -> None:
    """Run exactly a saved plan: re-plan first and refuse (PlanStaleError) if anything changed."""
    _run_deploy(
        ctx,
        environment,
        plan_file=plan_file,
        only=None,
        include_needs=False,
        include_dependents=False,
        selector=None,
        concurrency=concurrency,
        serial=serial,
        on_failure=on_failure,
        wait_lock=wait_lock,
        who=who,
        monitor=monitor,
    )


def approve(
    ctx: typer.Context,
    plan_id: Annotated[str, typer.Argument(help="The plan id `gripctl plan` printed (or its digest).")],
    environment: Annotated[str | None, environment_option] = None,
    who: Annotated[str | None, as_option] = None,
    comment: Annotated[str | None, typer.Option("--comment", "-m", help="Why, for the record.")] = None,
) -> None:
    """Approve a recorded plan for an environment with `approval: required`."""
    from gripctl.engine import approvals
    from gripctl.engine.locks import actor
    from gripctl.ledger import open_ledger
    from gripctl.model.loader import load_platform

    app_state = state(ctx)
    platform = load_platform(app_state.root, environment)
    ledger = open_ledger(root=platform.root)
    approver = who or actor()
    digest = approvals.approve(ledger, platform.environment, plan_id, approver, comment)
    if app_state.output.json:
        app_state.output.document({"plan": digest[:12], "digest": digest, "approver": approver})
    else:
        app_state.output.line(f"plan {digest[:12]} approved by {approver} for {platform.environment.name}")


def status(
    ctx: typer.Context,
    environment: Annotated[str | None, environment_option] = None,
    only: Annotated[list[str] | None, only_option] = None,
) -> None:
    """Every release: helm status, revision, chart version, health now, and drift from the repository."""
    from gripctl.engine.service import status as get_status

    app_state = state(ctx)
    rows = asyncio.run(get_status(app_state.root, environment, split_only(only)))
    if app_state.output.json:
        app_state.output.document([r.to_dict() for r in rows])
        return
    table = Table(box=None, header_style="bold")
    for col in ("release", "status", "rev", "chart", "health", "drift", "detail"):
        table.add_column(col)
    for r in rows:
        style = {"healthy": "green", "failed": "red", "progressing": "yellow"}.get(r.health, "dim")
        chart = r.chart_version or "-"
        if r.chart_version and r.chart_version != r.desired_chart_version:
            chart += f" → {r.desired_chart_version}"
        table.add_row(
            r.release_id,
            r.status,
            str(r.revision or "-"),
            chart,
            Text(r.health, style=style),
            Text("yes", style="yellow") if r.drift else "no",
            r.health_reason or (r.action if r.drift else ""),
        )
    app_state.output.console.print(table)


def history(
    ctx: typer.Context,
    release_id: Annotated[str, typer.Argument(help="Release id (e.g. 010-cert-manager).")],
    environment: Annotated[str | None, environment_option] = None,
) -> None:
    """A release's helm revisions, newest first, with the gripctl run that made each."""
    from gripctl.adapters import helm
    from gripctl.model.loader import load_platform
    from gripctl.observe import target_for

    app_state = state(ctx)
    platform = load_platform(app_state.root, environment)
    release = platform.release(release_id)
    from gripctl.ledger import open_ledger

    entries = asyncio.run(helm.history(release.name, release.namespace, target_for(platform), max_entries=50))
    entries.sort(key=lambda e: e.revision, reverse=True)
    runs = open_ledger(root=platform.root).revision_runs(release_id, platform.environment.name)
    if app_state.output.json:
        app_state.output.document([{**e.__dict__, "run": runs.get(e.revision)} for e in entries])
        return
    if not entries:
        app_state.output.line(f"{release_id} is not installed in {platform.environment.name}")
        return
    table = Table(box=None, header_style="bold")
    for col in ("rev", "status", "chart", "updated", "run", "description"):
        table.add_column(col)
    for e in entries:
        run = runs.get(e.revision)
        table.add_row(
            str(e.revision), e.status, e.chart, e.updated[:19], f"#{run}" if run else "-", e.description
        )
    app_state.output.console.print(table)


def rollback(
    ctx: typer.Context,
    release_id: Annotated[str, typer.Argument(help="Release id.")],
    revision: Annotated[
        int | None, typer.Argument(help="Revision (default: the last good one before now).")
    ] = None,
    environment: Annotated[str | None, environment_option] = None,
    wait_lock: Annotated[float, wait_lock_option] = 0.0,
    who: Annotated[str | None, as_option] = None,
) -> None:
    """Roll a release back by hand: locked, verified, recorded in the ledger."""
    wire_incidents()
    from gripctl.engine.progress import PlainSink
    from gripctl.engine.service import rollback as do_rollback

    app_state = state(ctx)
    sinks, _ = _sinks(app_state, environment)
    if not app_state.output.json and not isinstance(sinks[0], PlainSink):
        sinks[0] = PlainSink(app_state.output)
    rr = asyncio.run(
        do_rollback(
            app_state.root, environment, release_id, revision, sinks=sinks, wait_lock=wait_lock, who=who
        )
    )
    if app_state.output.json:
        app_state.output.document(
            {"release": release_id, "phase": rr.phase.value, "revision": rr.to_revision}
        )
    if rr.reason:
        raise DeployError(f"rollback of {release_id} is unhealthy: {rr.reason}")


def verify(
    ctx: typer.Context,
    environment: Annotated[str | None, environment_option] = None,
    only: Annotated[list[str] | None, only_option] = None,
    timeout: Annotated[
        float | None, typer.Option("--timeout", help="Seconds per release (default: its timeout).")
    ] = None,
) -> None:
    """Run the post-deployment checks now: rollouts, pods, endpoints, HTTP checks."""
    from gripctl.engine.service import verify as do_verify

    app_state = state(ctx)
    rows = asyncio.run(do_verify(app_state.root, environment, split_only(only), timeout=timeout))
    if app_state.output.json:
        app_state.output.document([r.to_dict() for r in rows])
    else:
        for r in rows:
            mark = Text("ok  ", style="green") if r.ok else Text("FAIL", style="bold red")
            app_state.output.console.print(
                Text.assemble(mark, f" {r.release_id}: {r.reason}"), soft_wrap=True
            )
    bad = [r for r in rows if not r.ok]
    if bad:
        raise DeployError(
            f"{len(bad)} release(s) unhealthy: " + "; ".join(f"{r.release_id}: {r.reason}" for r in bad)
        )


def recover(
    ctx: typer.Context,
    environment: Annotated[str | None, environment_option] = None,
    wait_lock: Annotated[float, wait_lock_option] = 0.0,
) -> None:
    """Recover interrupted runs: unlock releases left pending-*, verify half-done ones, close the runs."""
    wire_incidents()
    from gripctl.engine.progress import PlainSink
    from gripctl.engine.service import recover as do_recover

    app_state = state(ctx)
    sinks, _ = _sinks(app_state, environment)
    if not app_state.output.json and not isinstance(sinks[0], PlainSink):
        sinks[0] = PlainSink(app_state.output)
    done = asyncio.run(do_recover(app_state.root, environment, sinks=sinks, wait_lock=wait_lock))
    if app_state.output.json:
        app_state.output.document({"recovered": done})
    elif not done:
        app_state.output.line("nothing to recover")


def runs(
    ctx: typer.Context,
    environment: Annotated[str | None, environment_option] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many runs.")] = 20,
) -> None:
    """The latest runs, newest first."""
    if ctx.invoked_subcommand is not None:
        return
    from gripctl.ledger import open_ledger
    from gripctl.model.loader import load_platform

    app_state = state(ctx)
    platform = load_platform(app_state.root, environment)
    ledger = open_ledger(root=platform.root)
    records = ledger.runs(platform.environment.name if environment else None, limit)
    if app_state.output.json:
        app_state.output.document([r.to_dict() for r in records])
        return
    table = Table(box=None, header_style="bold")
    for col in ("run", "env", "kind", "actor", "started", "took", "outcome", "error"):
        table.add_column(col)
    for r in records:
        took = f"{r.duration_seconds:.1f}s" if r.duration_seconds is not None else "-"
        table.add_row(
            str(r.id),
            r.environment,
            r.kind.value,
            r.actor,
            f"{r.started_at:%m-%d %H:%M:%S}",
            took,
            r.outcome.value,
            (r.error or "")[:60],
        )
    app_state.output.console.print(table)


def runs_show(
    ctx: typer.Context,
    run_id: Annotated[int, typer.Argument(help="Run id from `gripctl runs`.")],
) -> None:
    """One run: its actions and its event timeline."""
    from gripctl.ledger import open_ledger
    from gripctl.model.loader import load_platform

    app_state = state(ctx)
    platform = load_platform(app_state.root, None)
    ledger = open_ledger(root=platform.root)
    record = ledger.run(run_id)
    if record is None:
        raise UsageError(f"no run {run_id} in the ledger", hint="`gripctl runs` lists them")
    if app_state.output.json:
        app_state.output.document(record.to_dict())
        return
    out = app_state.output
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
