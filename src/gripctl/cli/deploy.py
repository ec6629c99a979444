"""gripctl deploy, apply, approve, rollback, recover, unlock: the commands that change the cluster.

Each parses its options, calls one function of `gripctl.service.deploy` (or `.approvals`) and renders
the result. Progress is rendered by event sinks (cli/progress.py). Exit codes: 0 success, 1 the run
failed (after remediation) or was refused, 64 usage, 75 the environment or a release is locked.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from gripctl.cli.context import AppState, state
from gripctl.cli.options import (
    as_option,
    changed_since_option,
    concurrency_option,
    deploy_options,
    environment_option,
    force_promotion_option,
    include_dependents_option,
    include_needs_option,
    monitor_option,
    on_failure_option,
    only_option,
    selection,
    selector_option,
    serial_option,
    server_option,
    sign_option,
    skip_validation_option,
    token_option,
    wait_lock_option,
)
from gripctl.engine.events import EngineEvent, EventSink, Phase
from gripctl.engine.options import OnFailure
from gripctl.errors import DeployError, UsageError
from gripctl.identity import actor
from gripctl.ledger.types import RunOutcome

if TYPE_CHECKING:
    from gripctl.cli.progress import LiveSink
    from gripctl.model.types import Platform
    from gripctl.plan.types import Plan
    from gripctl.service.deploy import Deployment


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("deploy")(deploy)
    app.command("apply")(apply)
    app.command("approve")(approve)
    app.command("reject")(reject)
    app.command("rollback")(rollback)
    app.command("recover")(recover)
    app.command("unlock")(unlock)


# -- progress ----------------------------------------------------------------------------------------


class _LazyLive:
    """Plain lines until the first release event, then a Rich Live table (so that an approval prompt
    before the run is not drawn over)."""

    def __init__(self, app_state: AppState) -> None:
        from gripctl.cli.progress import PlainSink

        self.app_state = app_state
        self.plain = PlainSink(app_state.output)
        self.live: LiveSink | None = None
        self.ids: list[str] = []
        self.needs: dict[str, tuple[str, ...]] = {}

    def on_plan(self, _platform: Platform, plan: Plan) -> None:
        self.ids = [rp.release_id for rp in plan.releases]
        self.needs = {rp.release_id: rp.needs for rp in plan.releases}

    def handle(self, event: EngineEvent) -> None:
        from gripctl.cli.progress import LiveSink

        if self.live is None and event.release_id and self.ids:
            self.live = LiveSink(self.app_state.output, self.ids, self.needs)
        (self.live or self.plain).handle(event)

    def close(self) -> None:
        if self.live is not None:
            self.live.close()


def sinks(
    app_state: AppState, environment: str | None, *, live: bool = True
) -> tuple[list[EventSink], _LazyLive | None]:
    """How this terminal (or CI log, or machine) sees a run; plus a GitHub job summary in Actions."""
    from gripctl.cli.progress import GithubSummarySink, JsonSink, PlainSink

    out: list[EventSink] = []
    lazy: _LazyLive | None = None
    if app_state.output.json:
        out.append(JsonSink(app_state.output))
    elif app_state.output.interactive and live:
        lazy = _LazyLive(app_state)
        out.append(lazy)
    else:
        out.append(PlainSink(app_state.output))
    if summary := os.environ.get("GITHUB_STEP_SUMMARY"):
        out.append(GithubSummarySink(Path(summary), environment or "default"))
    return out, lazy


def confirm_prompt(app_state: AppState) -> Any:
    if not app_state.output.interactive:
        return None

    def ask(summary: str) -> bool:
        app_state.output.console.print(Text(summary), soft_wrap=True)
        return typer.confirm("Deploy this plan?", default=False)

    return ask


_TROUBLED = (Phase.failed, Phase.rolled_back, Phase.uninstalled)


def finish(app_state: AppState, deployment: Deployment, *, document: bool = True) -> None:
    """The run's last line (or its JSON document), and a DeployError unless it succeeded."""
    result = deployment.result
    if app_state.output.json and document:
        app_state.output.document(deployment.to_dict())
    if result is None:
        if not app_state.output.json:
            app_state.output.line(deployment.nothing or "nothing to deploy")
        return
    if not app_state.output.json:
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


def _run(
    ctx: typer.Context,
    environment: str | None,
    who: str | None,
    saved: Plan | None,
    *,
    automatic: bool = False,
    key: Path | None = None,
) -> None:
    from gripctl.service import deploy as service

    app_state = state(ctx)
    out_sinks, lazy = sinks(app_state, environment)
    request = service.DeployRequest(
        root=app_state.root,
        environment=environment,
        selection=selection(ctx.params),
        actor=who or actor(),
        saved_plan=saved,
        confirm=confirm_prompt(app_state),
        sinks=out_sinks,
        on_plan=lazy.on_plan if lazy else None,
        automatic=automatic,
        signing_key=key.expanduser() if key is not None else None,
        **deploy_options(ctx.params),
    )
    run = service.apply if saved is not None else service.deploy
    finish(app_state, asyncio.run(run(request)))


def deploy(
    ctx: typer.Context,
    environment: Annotated[str | None, environment_option] = None,
    only: Annotated[list[str] | None, only_option] = None,
    include_needs: Annotated[bool, include_needs_option] = False,
    include_dependents: Annotated[bool, include_dependents_option] = False,
    selector: Annotated[list[str] | None, selector_option] = None,
    changed_since: Annotated[str | None, changed_since_option] = None,
    concurrency: Annotated[int | None, concurrency_option] = None,
    serial: Annotated[bool, serial_option] = False,
    on_failure: Annotated[OnFailure, on_failure_option] = OnFailure.halt,
    wait_lock: Annotated[float, wait_lock_option] = 0.0,
    monitor: Annotated[float | None, monitor_option] = None,
    skip_validation: Annotated[bool, skip_validation_option] = False,
    force_promotion: Annotated[bool, force_promotion_option] = False,
    auto: Annotated[
        bool,
        typer.Option(
            "--auto",
            help="The automatic entry (CI on push): deploy only an environment whose policy is "
            "`deploy: auto`, refuse any other.",
        ),
    ] = False,
    who: Annotated[str | None, as_option] = None,
    key: Annotated[Path | None, sign_option] = None,
) -> None:
    """Plan, check, approve and apply: deploy the selected releases in dependency order, verify, remediate."""
    _run(ctx, environment, who, None, automatic=auto, key=key)


def apply(
    ctx: typer.Context,
    plan_file: Annotated[Path, typer.Argument(help="A plan written by `gripctl plan --out plan.json`.")],
    environment: Annotated[str | None, environment_option] = None,
    concurrency: Annotated[int | None, concurrency_option] = None,
    serial: Annotated[bool, serial_option] = False,
    on_failure: Annotated[OnFailure, on_failure_option] = OnFailure.halt,
    wait_lock: Annotated[float, wait_lock_option] = 0.0,
    monitor: Annotated[float | None, monitor_option] = None,
    skip_validation: Annotated[bool, skip_validation_option] = False,
    force_promotion: Annotated[bool, force_promotion_option] = False,
    who: Annotated[str | None, as_option] = None,
    key: Annotated[Path | None, sign_option] = None,
) -> None:
    """Run exactly a saved plan: re-plan first and refuse (PlanStaleError) if anything changed."""
    from gripctl.plan.serialize import plan_from_json

    try:
        text = plan_file.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read plan file {plan_file}: {exc.strerror}") from None
    saved = plan_from_json(text, source=str(plan_file))
    _run(ctx, environment or saved.environment, who, saved, key=key)


def _decide(
    ctx: typer.Context,
    decision: str,
    plan_id: str,
    environment: str | None,
    who: str | None,
    comment: str | None,
    key: Path | None,
    server: str | None,
    token: str | None,
) -> None:
    from gripctl.service import approvals

    app_state = state(ctx)
    if server:
        if not token:
            raise UsageError(
                "--server needs --token (or GRIPCTL_TOKEN)", hint="`gripctl token create` makes one"
            )
        result = approvals.decide_remote(
            server, token, plan_id, "approve" if decision == "approve" else "reject", comment
        )
    elif key is not None:
        request = approvals.ApproveRequest(
            app_state.root, environment, plan_id, who, comment, signing_key=key.expanduser()
        )
        result = (approvals.approve if decision == "approve" else approvals.reject)(request)
    else:
        raise UsageError(
            f"a decision on plan {plan_id} must be authenticated: "
            f"a name alone ({who or actor()!r}) proves nothing",
            hint="sign it with your SSH key (--sign ~/.ssh/id_ed25519, a key in the allowed signers file), "
            "or decide through the server (--server URL --token TOKEN)",
        )
    if app_state.output.json:
        app_state.output.document(result.to_dict())
    else:
        until = f" until {result.expires_at[:16]}" if result.expires_at else ""
        app_state.output.line(
            f"plan {result.plan} {result.decision} by {result.approver} for {result.environment} "
            f"({result.method}){until}"
        )


def approve(
    ctx: typer.Context,
    plan_id: Annotated[str, typer.Argument(help="The plan id `gripctl plan` printed (or its digest).")],
    environment: Annotated[str | None, environment_option] = None,
    key: Annotated[Path | None, sign_option] = None,
    server: Annotated[str | None, server_option] = None,
    token: Annotated[str | None, token_option] = None,
    who: Annotated[str | None, as_option] = None,
    comment: Annotated[
        str | None, typer.Option("--comment", "-m", metavar="TEXT", help="Why, for the record.")
    ] = None,
) -> None:
    """Approve a recorded plan, authenticated: signed with your SSH key (--sign) or through the server
    (--server, --token). The plan's requester cannot approve it where four eyes are required."""
    _decide(ctx, "approve", plan_id, environment, who, comment, key, server, token)


def reject(
    ctx: typer.Context,
    plan_id: Annotated[str, typer.Argument(help="The plan id `gripctl plan` printed (or its digest).")],
    reason: Annotated[str, typer.Option("--reason", "-m", metavar="TEXT", help="What is wrong with it.")],
    environment: Annotated[str | None, environment_option] = None,
    key: Annotated[Path | None, sign_option] = None,
    server: Annotated[str | None, server_option] = None,
    token: Annotated[str | None, token_option] = None,
    who: Annotated[str | None, as_option] = None,
) -> None:
    """Reject a recorded plan, authenticated like `approve`: it can never be approved afterwards."""
    _decide(ctx, "reject", plan_id, environment, who, reason, key, server, token)


def _plain_sinks(app_state: AppState, environment: str | None) -> list[EventSink]:
    """Runs of one release print timestamped lines rather than a live table."""
    return sinks(app_state, environment, live=False)[0]


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
    """Roll a release back by hand: a locked, recorded, verified run (notifications and incidents too)."""
    from gripctl.service.deploy import RollbackRequest
    from gripctl.service.deploy import rollback as run

    app_state = state(ctx)
    request = RollbackRequest(
        app_state.root,
        environment,
        release_id,
        revision,
        actor=who or actor(),
        wait_lock=wait_lock,
        sinks=_plain_sinks(app_state, environment),
    )
    result = asyncio.run(run(request))
    if app_state.output.json:
        app_state.output.document(result.to_dict())
    if not result.ok:
        raise DeployError(
            f"rollback of {release_id} to revision {result.to_revision} failed: {result.reason}",
            hint=f"the timeline: `gripctl runs show {result.run_id}`",
        )


def recover(
    ctx: typer.Context,
    environment: Annotated[str | None, environment_option] = None,
    wait_lock: Annotated[float, wait_lock_option] = 0.0,
    who: Annotated[str | None, as_option] = None,
) -> None:
    """Recover interrupted runs: unlock releases left pending-*, verify half-done ones, close the runs."""
    from gripctl.service.deploy import RecoverRequest
    from gripctl.service.deploy import recover as run

    app_state = state(ctx)
    request = RecoverRequest(
        app_state.root, environment, who or actor(), wait_lock, _plain_sinks(app_state, environment)
    )
    result = asyncio.run(run(request))
    if app_state.output.json:
        app_state.output.document(result.to_dict())
    elif not result.recovered:
        app_state.output.line("nothing to recover")


def unlock(
    ctx: typer.Context,
    release_id: Annotated[str, typer.Argument(help="Release id of a release helm left pending-*.")],
    environment: Annotated[str | None, environment_option] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Unlock even though another helm may still be operating on it.")
    ] = False,
    wait_lock: Annotated[float, wait_lock_option] = 0.0,
    who: Annotated[str | None, as_option] = None,
) -> None:
    """Unlock a pending-install/upgrade/rollback release: back to its last good revision (or uninstalled)."""
    from gripctl.service.deploy import UnlockRequest
    from gripctl.service.deploy import unlock as run

    app_state = state(ctx)
    request = UnlockRequest(
        app_state.root,
        environment,
        release_id,
        force,
        who or actor(),
        wait_lock,
        _plain_sinks(app_state, environment),
    )
    result = asyncio.run(run(request))
    if app_state.output.json:
        app_state.output.document(result.to_dict())
    else:
        app_state.output.line(f"{release_id}: {result.message}")
    if result.phase != "unlocked":
        raise DeployError(f"unlock of {release_id} failed: {result.message}")
