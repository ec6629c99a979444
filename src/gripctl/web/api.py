"""The JSON API under /api/v1, plus /metrics and the health probes. Each route parses, checks the
principal's permission for the environment it touches, calls one service function and returns its
`to_dict()`."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from pydantic import BaseModel, Field

from gripctl.engine.events import EventSink
from gripctl.engine.options import OnFailure
from gripctl.errors import UsageError
from gripctl.ledger.types import ApprovalMethod, IncidentStatus, RunKind, RunOutcome, TokenRole
from gripctl.model.selection import Selection
from gripctl.service import access, approvals, incidents, metrics, runs, status
from gripctl.service import deploy as deploys
from gripctl.service.access import Permission, Principal
from gripctl.service.workspace import ledger_of
from gripctl.web.auth import authorize, check_csrf, require, source
from gripctl.web.state import State, started, state

router = APIRouter()
V1 = "/api/v1"
START_TIMEOUT = 600.0  # planning a big platform before its run starts


def _st(request: Request) -> State:
    return state(request)


def _root(request: Request) -> Any:
    return _st(request).config.root


def _scope(who: Principal) -> Sequence[str] | None:
    return who.environments or None


def _env_names(request: Request, who: Principal) -> list[str]:
    return who.visible([e.name for e in status.environments(_root(request))])


# -- probes and the Prometheus exposition --------------------------------------------------------------


@router.get("/healthz", tags=["probes"], summary="Liveness: the process answers")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", tags=["probes"], summary="Readiness: the ledger answers and the server started")
def readyz(request: Request) -> JSONResponse:
    st = _st(request)
    try:
        ledger_of(st.config.root).change_marker()
    except Exception as exc:
        return JSONResponse({"status": "unavailable", "reason": getattr(exc, "message", str(exc))}, 503)
    if not st.ready:
        return JSONResponse({"status": "starting"}, 503)
    worker = st.worker
    return JSONResponse({"status": "ready", "leader": bool(worker and worker.leader)})


@router.get("/metrics", tags=["metrics"], summary="Prometheus exposition of the DORA families")
def prometheus(
    request: Request, who: Annotated[Principal, Depends(require(Permission.read))]
) -> PlainTextResponse:
    envs = tuple(_env_names(request, who)) if who.environments else ()
    result = metrics.metrics(
        metrics.MetricsRequest(_root(request), envs, totals=True), ledger_of(_root(request))
    )
    return PlainTextResponse(result.prometheus(), media_type="text/plain; version=0.0.4")


# -- who am I, environments, releases ------------------------------------------------------------------


@router.get(f"{V1}/me", tags=["access"])
def me(who: Annotated[Principal, Depends(require(Permission.read))]) -> dict[str, Any]:
    return who.to_dict()


@router.get(f"{V1}/environments", tags=["environments"])
def list_environments(
    request: Request, who: Annotated[Principal, Depends(require(Permission.read))]
) -> list[dict[str, Any]]:
    return [e.to_dict() for e in status.environments(_root(request)) if who.covers(e.name)]


def marker(request: Request) -> tuple[int, ...]:
    """The ledger's change marker, read once per request (what the kept results are checked against)."""
    found = getattr(request.state, "ledger_marker", None)
    if found is None:
        found = ledger_of(_root(request)).change_marker()
        request.state.ledger_marker = found
    return found


def release_rows(request: Request, environment: str) -> dict[str, Any]:
    """The environment's releases in graph order: the last status look, and the last run of each
    (kept until the ledger or the status look moves)."""
    st = _st(request)
    observed = st.status.get(environment) if st.status else None
    version = (marker(request), observed.at if observed else None)
    rows: dict[str, Any] = started(st.memo, "cache").get(
        ("releases", environment), version, lambda: _release_rows(request, environment)
    )
    return rows


def pending_plans(request: Request, environments: list[str]) -> approvals.PendingPlans:
    """The plans awaiting a decision in these environments (kept until the ledger moves)."""
    found: approvals.PendingPlans = started(_st(request).memo, "cache").get(
        ("pending", tuple(environments)),
        marker(request),
        lambda: approvals.pending(_root(request), environments, ledger_of(_root(request))),
    )
    return found


def _release_rows(request: Request, environment: str) -> dict[str, Any]:
    st = _st(request)
    info = next((e for e in status.environments(_root(request)) if e.name == environment), None)
    if info is None:
        raise UsageError(f"no environment named {environment!r}")
    observed = st.status.get(environment) if st.status else None
    rows = {r.release_id: r for r in (observed.result.rows if observed and observed.result else [])}
    last = ledger_of(_root(request)).last_release_runs(environment, info.releases)
    out = []
    for rid in info.releases:
        row = rows.get(rid)
        run = last.get(rid)
        out.append(
            {
                "release": rid,
                **(row.to_dict() if row else {"health": "unknown", "drift": None, "revision": None}),
                "last_run": (
                    {"id": run.id, "kind": run.kind.value, "actor": run.actor, "outcome": run.outcome.value,
                     "finished_at": run.finished_at.isoformat() if run.finished_at else None}
                    if run else None
                ),
            }
        )  # fmt: skip
    return {
        "environment": environment,
        "waves": [list(w) for w in info.waves],
        "observed_at": observed.at if observed else None,
        "error": observed.error if observed else "not looked at yet",
        "releases": out,
    }


@router.get(
    f"{V1}/environments/{{environment}}/releases",
    tags=["releases"],
    summary="Releases: status, health, drift, last run",
)
def list_releases(
    request: Request, environment: str, who: Annotated[Principal, Depends(require(Permission.read))]
) -> dict[str, Any]:
    authorize(request, Permission.read, environment)
    return release_rows(request, environment)


@router.get(f"{V1}/environments/{{environment}}/releases/{{release_id}}/history", tags=["releases"])
async def release_history(
    request: Request,
    environment: str,
    release_id: str,
    who: Annotated[Principal, Depends(require(Permission.read))],
) -> list[dict[str, Any]]:
    authorize(request, Permission.read, environment)
    req = status.HistoryRequest(_root(request), environment, release_id)
    return (await asyncio.to_thread(asyncio.run, status.history(req))).to_dict()


@router.get(
    f"{V1}/environments/{{environment}}/releases/{{release_id}}/diff",
    tags=["releases"],
    summary="Diff between two revisions",
)
async def release_diff(
    request: Request,
    environment: str,
    release_id: str,
    who: Annotated[Principal, Depends(require(Permission.read))],
    from_revision: Annotated[int, Query(alias="from", ge=1)],
    to_revision: Annotated[int, Query(alias="to", ge=1)],
) -> dict[str, Any]:
    authorize(request, Permission.read, environment)
    req = status.RevisionDiffRequest(_root(request), environment, release_id, from_revision, to_revision)
    return (await asyncio.to_thread(asyncio.run, status.revision_diff(req))).to_dict()


# -- deploys and rollbacks -----------------------------------------------------------------------------


class DeployBody(BaseModel):
    only: list[str] = Field(default_factory=list, description="release ids (default: all)")
    include_needs: bool = False
    include_dependents: bool = False
    selectors: list[str] = Field(default_factory=list)
    on_failure: OnFailure = OnFailure.halt
    skip_validation: bool = False


class RollbackBody(BaseModel):
    revision: int | None = Field(default=None, ge=1, description="default: the last good revision")


async def start_run(request: Request, work: Any, name: str) -> int:
    """Start `work(sinks)` on the server's runner; the run's id once it started (its refusal raised)."""
    future: concurrent.futures.Future[int] = started(_st(request).runner, "runner").start(work, name)
    return await asyncio.wait_for(asyncio.wrap_future(future), START_TIMEOUT)


async def start_apply(request: Request, plan_id: str, actor: str, where: str) -> int:
    root = _root(request)
    plan = deploys.saved_plan(ledger_of(root), plan_id)

    def work(sinks: Sequence[EventSink]) -> Any:
        req = deploys.DeployRequest(
            root=root,
            environment=plan.environment,
            saved_plan=plan,
            actor=actor,
            sinks=sinks,
            source=where,
            run_kind=RunKind.deploy,
        )
        return deploys.apply(req)

    return await start_run(request, work, f"deploy-{plan.id}")


async def request_deploy(
    request: Request, environment: str, body: DeployBody, who: Principal
) -> dict[str, Any]:
    """Plan now; start the deploy when no approval is needed (or one is on record), else wait for one."""
    req = deploys.DeployRequest(
        root=_root(request),
        environment=environment,
        selection=Selection(
            tuple(body.only), body.include_needs, body.include_dependents, tuple(body.selectors)
        ),
        actor=who.user,
        on_failure=body.on_failure,
        skip_validation=body.skip_validation,
        source=source(request),
    )
    asked = await asyncio.to_thread(asyncio.run, deploys.request_deploy(req))
    out = asked.to_dict()
    if asked.state == "ready" and asked.plan.has_changes:
        out["run_id"] = await start_apply(request, asked.plan.digest, who.user, source(request))
    return out


@router.post(
    f"{V1}/environments/{{environment}}/deploys",
    tags=["deploys"],
    status_code=202,
    summary="Request a deploy",
)
async def post_deploy(
    request: Request,
    environment: str,
    body: DeployBody,
    who: Annotated[Principal, Depends(require(Permission.deploy))],
) -> dict[str, Any]:
    authorize(request, Permission.deploy, environment)
    check_csrf(request, None)
    return await request_deploy(request, environment, body, who)


async def rollback(
    request: Request, environment: str, release_id: str, revision: int | None, who: Principal
) -> int:
    root = _root(request)

    def work(sinks: Sequence[EventSink]) -> Any:
        return deploys.rollback(
            deploys.RollbackRequest(
                root, environment, release_id, revision, who.user, sinks=sinks, source=source(request)
            )
        )

    return await start_run(request, work, f"rollback-{release_id}")


@router.post(
    f"{V1}/environments/{{environment}}/releases/{{release_id}}/rollback", tags=["deploys"], status_code=202
)
async def post_rollback(
    request: Request,
    environment: str,
    release_id: str,
    body: RollbackBody,
    who: Annotated[Principal, Depends(require(Permission.deploy))],
) -> dict[str, Any]:
    authorize(request, Permission.deploy, environment)
    check_csrf(request, None)
    return {"run_id": await rollback(request, environment, release_id, body.revision, who)}


# -- runs ----------------------------------------------------------------------------------------------


@router.get(f"{V1}/runs", tags=["runs"], summary="Runs, newest first, filtered and paged")
def list_runs(
    request: Request,
    who: Annotated[Principal, Depends(require(Permission.read))],
    environment: str | None = None,
    kind: RunKind | None = None,
    outcome: RunOutcome | None = None,
    actor: str | None = None,
    before: Annotated[int | None, Query(ge=1, description="the next_before of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=runs.MAX_PAGE)] = 50,
) -> dict[str, Any]:
    if environment is not None:
        authorize(request, Permission.read, environment)
    req = runs.RunsRequest(_root(request), environment, limit, kind, outcome, actor, before, _scope(who))
    return runs.runs(req, ledger_of(_root(request))).page()


def visible_run(request: Request, run_id: int) -> runs.RunDetail:
    detail = runs.run_detail(_root(request), run_id, ledger_of(_root(request)))
    authorize(request, Permission.read, detail.record.environment)
    return detail


@router.get(f"{V1}/runs/{{run_id}}", tags=["runs"], summary="One run: waves, release states, timeline")
def get_run(
    request: Request, run_id: int, who: Annotated[Principal, Depends(require(Permission.read))]
) -> dict[str, Any]:
    return visible_run(request, run_id).to_dict()


@router.get(
    f"{V1}/runs/{{run_id}}/events",
    tags=["runs"],
    summary="The run's engine events as Server-Sent Events (resume with Last-Event-ID)",
    response_class=StreamingResponse,
)
def run_events(
    request: Request,
    run_id: int,
    who: Annotated[Principal, Depends(require(Permission.read))],
    after: Annotated[int, Query(ge=0, description="resume after this event id")] = 0,
) -> StreamingResponse:
    from gripctl.web.live import stream

    record = ledger_of(_root(request)).run_summary(run_id)
    if record is None:
        raise UsageError(f"no run {run_id} in the ledger")
    authorize(request, Permission.read, record.environment)
    last = request.headers.get("last-event-id", "")
    resume = int(last) if last.isdigit() else after
    return StreamingResponse(
        stream(_root(request), run_id, resume, _st(request).broker),
        media_type="text/event-stream",
        headers={"cache-control": "no-store", "x-accel-buffering": "no"},
    )


# -- plans and approvals -------------------------------------------------------------------------------


class DecisionBody(BaseModel):
    comment: str | None = Field(default=None, description="why (approve) or the reason (reject, required)")


@router.get(f"{V1}/plans", tags=["approvals"], summary="Plans awaiting a decision, with their diff")
def list_plans(
    request: Request,
    who: Annotated[Principal, Depends(require(Permission.read))],
    environment: str | None = None,
) -> list[dict[str, Any]]:
    envs = [environment] if environment else _env_names(request, who)
    for env in envs:
        authorize(request, Permission.read, env)
    return pending_plans(request, envs).to_dict()


def visible_plan(request: Request, plan_id: str) -> approvals.PlanDetail:
    detail = approvals.plan_detail(_root(request), plan_id, ledger_of(_root(request)))
    authorize(request, Permission.read, detail.record.environment)
    return detail


@router.get(f"{V1}/plans/{{plan_id}}", tags=["approvals"])
def get_plan(
    request: Request, plan_id: str, who: Annotated[Principal, Depends(require(Permission.read))]
) -> dict[str, Any]:
    return visible_plan(request, plan_id).to_dict()


async def decide(
    request: Request, plan_id: str, decision: str, comment: str | None, who: Principal
) -> dict[str, Any]:
    """Record the principal's decision; an approved plan someone asked the server to deploy starts."""
    root = _root(request)
    detail = await asyncio.to_thread(visible_plan, request, plan_id)
    authorize(request, Permission.approve, detail.record.environment)
    req = approvals.ApproveRequest(
        root, detail.record.environment, detail.record.digest, who.user, comment,
        method=ApprovalMethod.token, source=source(request),
    )  # fmt: skip
    call = approvals.approve if decision == "approve" else approvals.reject
    result = await asyncio.to_thread(call, req, ledger_of(root))
    out = result.to_dict()
    if decision == "approve":
        requester = await asyncio.to_thread(deploys.awaiting_deploy, ledger_of(root), detail.record.digest)
        after = await asyncio.to_thread(approvals.plan_detail, root, detail.record.digest, ledger_of(root))
        if requester and after.state == "approved":
            out["run_id"] = await start_apply(request, detail.record.digest, requester, source(request))
    return out


@router.post(f"{V1}/plans/{{plan_id}}/approve", tags=["approvals"])
async def post_approve(
    request: Request,
    plan_id: str,
    body: DecisionBody,
    who: Annotated[Principal, Depends(require(Permission.approve))],
) -> dict[str, Any]:
    check_csrf(request, None)
    return await decide(request, plan_id, "approve", body.comment, who)


@router.post(f"{V1}/plans/{{plan_id}}/reject", tags=["approvals"])
async def post_reject(
    request: Request,
    plan_id: str,
    body: DecisionBody,
    who: Annotated[Principal, Depends(require(Permission.approve))],
) -> dict[str, Any]:
    check_csrf(request, None)
    return await decide(request, plan_id, "reject", body.comment, who)


# -- incidents -----------------------------------------------------------------------------------------


class ResolveBody(BaseModel):
    rca: str | None = Field(default=None, description="root cause")


def _incident_dict(r: Any) -> dict[str, Any]:
    out: dict[str, Any] = r.to_dict()
    return out


@router.get(f"{V1}/incidents", tags=["incidents"], summary="Incidents, newest first, filtered and paged")
def list_incidents(
    request: Request,
    who: Annotated[Principal, Depends(require(Permission.read))],
    environment: str | None = None,
    status_: Annotated[IncidentStatus | None, Query(alias="status")] = None,
    before: Annotated[int | None, Query(ge=1)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    if environment is not None:
        authorize(request, Permission.read, environment)
    found = ledger_of(_root(request)).incidents(
        status_, environment, limit, environments=_scope(who), before=before
    )
    return {
        "incidents": [_incident_dict(r) for r in found],
        "next_before": found[-1].id if len(found) == limit else None,
    }


def visible_incident(request: Request, incident_id: int, permission: Permission = Permission.read) -> Any:
    record = incidents.show(_root(request), incident_id)
    authorize(request, permission, record.environment)
    return record


@router.get(f"{V1}/incidents/{{incident_id}}", tags=["incidents"])
def get_incident(
    request: Request, incident_id: int, who: Annotated[Principal, Depends(require(Permission.read))]
) -> dict[str, Any]:
    return _incident_dict(visible_incident(request, incident_id))


def incident_action(
    request: Request, incident_id: int, action: str, who: Principal, rca: str | None = None
) -> Any:
    root = _root(request)
    visible_incident(request, incident_id, Permission.incident)
    if action == "ack":
        return incidents.acknowledge(root, incident_id, who.user, source(request))
    return incidents.resolve(root, incident_id, who.user, rca, source(request))


@router.post(f"{V1}/incidents/{{incident_id}}/ack", tags=["incidents"])
def post_ack(
    request: Request, incident_id: int, who: Annotated[Principal, Depends(require(Permission.incident))]
) -> dict[str, Any]:
    check_csrf(request, None)
    return _incident_dict(incident_action(request, incident_id, "ack", who))


@router.post(f"{V1}/incidents/{{incident_id}}/resolve", tags=["incidents"])
def post_resolve(
    request: Request,
    incident_id: int,
    body: ResolveBody,
    who: Annotated[Principal, Depends(require(Permission.incident))],
) -> dict[str, Any]:
    check_csrf(request, None)
    return _incident_dict(incident_action(request, incident_id, "resolve", who, body.rca))


# -- DORA ----------------------------------------------------------------------------------------------


@router.get(f"{V1}/metrics/dora", tags=["metrics"], summary="The four DORA keys per environment, with bands")
def dora(
    request: Request,
    who: Annotated[Principal, Depends(require(Permission.read))],
    environment: Annotated[list[str] | None, Query()] = None,
    since: str = "90d",
) -> dict[str, Any]:
    envs = tuple(environment or (_env_names(request, who) if who.environments else ()))
    for env in envs:
        authorize(request, Permission.read, env)
    result = started(_st(request).dora, "DORA views").report(envs, since)
    out: dict[str, Any] = result.to_dict()
    for m, d in zip(result.report.environments, out["environments"], strict=True):
        d["bands"] = metrics.bands(m)
    return out


@router.get(f"{V1}/metrics/trends", tags=["metrics"], summary="The DORA keys week by week")
def dora_trends(
    request: Request,
    who: Annotated[Principal, Depends(require(Permission.read))],
    weeks: Annotated[int, Query(ge=1, le=104)] = 12,
) -> dict[str, Any]:
    envs = tuple(_env_names(request, who)) if who.environments else ()
    result: dict[str, Any] = started(_st(request).dora, "DORA views").trends(envs, weeks).to_dict()
    return result


@router.get(
    f"{V1}/metrics/failed-changes",
    tags=["metrics"],
    summary="The failed deploys behind the change failure rate, with their incidents",
)
def failed_changes(
    request: Request,
    environment: str,
    who: Annotated[Principal, Depends(require(Permission.read))],
    since: str = "90d",
) -> dict[str, Any]:
    authorize(request, Permission.read, environment)
    return metrics.failed_changes(
        _root(request), environment, since, ledger=ledger_of(_root(request))
    ).to_dict()


# -- tokens and the audit log (admin) ------------------------------------------------------------------


class TokenBody(BaseModel):
    user: str
    role: TokenRole
    environments: list[str] = Field(default_factory=list)
    expires: str | None = Field(default=None, description="a duration (90d) or a date; default never")


@router.get(f"{V1}/tokens", tags=["access"])
def list_tokens(
    request: Request, who: Annotated[Principal, Depends(require(Permission.admin))]
) -> list[dict[str, Any]]:
    return access.list_tokens(_root(request), ledger=ledger_of(_root(request))).to_dict()


@router.post(f"{V1}/tokens", tags=["access"], status_code=201, summary="Create a token (shown once)")
def post_token(
    request: Request, body: TokenBody, who: Annotated[Principal, Depends(require(Permission.admin))]
) -> dict[str, Any]:
    check_csrf(request, None)
    req = access.TokenRequest(
        _root(request),
        body.user,
        body.role,
        tuple(body.environments),
        body.expires,
        who.user,
        source(request),
    )
    return access.create_token(req, ledger_of(_root(request))).to_dict()


@router.delete(f"{V1}/tokens/{{token_id}}", tags=["access"])
def delete_token(
    request: Request, token_id: str, who: Annotated[Principal, Depends(require(Permission.admin))]
) -> dict[str, Any]:
    check_csrf(request, None)
    record = access.revoke_token(
        _root(request), token_id, actor=who.user, source=source(request), ledger=ledger_of(_root(request))
    )
    return {"id": record.id, "revoked_at": record.revoked_at.isoformat() if record.revoked_at else None}


@router.get(f"{V1}/audit", tags=["access"], summary="The audit log, newest first, paged")
def audit(
    request: Request,
    who: Annotated[Principal, Depends(require(Permission.admin))],
    actor: str | None = None,
    action: str | None = None,
    since: str | None = None,
    before: Annotated[int | None, Query(ge=1)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    req = access.AuditRequest(_root(request), actor, action, since, before, limit)
    return access.audit_log(req, ledger_of(_root(request))).to_dict()
