"""The dashboard: server-rendered pages over the same service calls as the API. Forms post
url-encoded bodies with the session's CSRF token and answer with a redirect (303) to what they made."""

from __future__ import annotations

import asyncio
import secrets
from typing import Annotated, Any
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from gripctl.errors import UsageError
from gripctl.ledger.types import IncidentStatus, RunKind, RunOutcome
from gripctl.service import access, approvals, metrics, runs, status
from gripctl.service.access import Permission, Principal
from gripctl.service.workspace import ledger_of
from gripctl.web import api
from gripctl.web.auth import authorize, check_csrf, require, source
from gripctl.web.render import LOGIN_CSRF
from gripctl.web.state import State, started, state

router = APIRouter(include_in_schema=False)
Reader = Annotated[Principal, Depends(require(Permission.read))]


def _st(request: Request) -> State:
    return state(request)


def _root(request: Request) -> Any:
    return _st(request).config.root


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    response: HTMLResponse = _st(request).pages.render(request, template, status_code, **context)
    return response


async def form(request: Request) -> dict[str, str]:
    """The url-encoded form of a POST, one value per field, after its CSRF token was checked."""
    body = (await request.body()).decode(errors="replace")
    fields = {k: v[-1] for k, v in parse_qs(body, keep_blank_values=True).items()}
    check_csrf(request, fields.get("csrf"))
    return fields


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


# -- logging in and out --------------------------------------------------------------------------------


@router.get("/login")
def login_page(request: Request, next: str = "/") -> Response:
    response: Response = _st(request).pages.login(request, next=next)
    return response


@router.post("/login")
async def login(request: Request) -> Response:
    body = (await request.body()).decode(errors="replace")
    fields = {k: v[-1] for k, v in parse_qs(body).items()}
    expected = request.cookies.get(LOGIN_CSRF, "")
    nxt = fields.get("next", "/")
    pages = _st(request).pages
    if not expected or not secrets.compare_digest(expected, fields.get("csrf", "")):
        response: Response = pages.login(
            request, status_code=403, error="the form expired: try again", next=nxt
        )
        return response
    auth = _st(request).auth
    session, why = await asyncio.to_thread(auth.login, fields.get("token", ""), source(request))
    if session is None:
        code = 429 if why.startswith("too many") else 401
        refused: Response = pages.login(request, status_code=code, error=why, next=nxt)
        return refused
    ledger = ledger_of(_root(request))
    await asyncio.to_thread(ledger.record_audit, session.user, source(request), "login", session.token_id)
    done = redirect(nxt if nxt.startswith("/") and not nxt.startswith("//") else "/")
    done.set_cookie(**auth.cookie(session))
    done.delete_cookie(LOGIN_CSRF, path="/login")
    return done


@router.post("/logout")
async def logout(request: Request, who: Reader) -> Response:
    await form(request)
    response = redirect("/login")
    response.delete_cookie("gripctl_session", path="/")
    return response


# -- overview ------------------------------------------------------------------------------------------


@router.get("/")
def overview(request: Request, who: Reader) -> Response:
    envs = [e for e in status.environments(_root(request)) if who.covers(e.name)]
    rows = {e.name: api.release_rows(request, e.name) for e in envs}
    names = [e.name for e in envs]
    pending = started(_st(request).memo, "cache").get(
        ("pending", tuple(names)),
        None,
        lambda: approvals.pending(_root(request), names, ledger_of(_root(request))),
    )
    return render(request, "overview.html", environments=envs, rows=rows, pending=pending.plans)


@router.post("/environments/{environment}/deploy")
async def deploy(
    request: Request, environment: str, who: Annotated[Principal, Depends(require(Permission.deploy))]
) -> Response:
    authorize(request, Permission.deploy, environment)
    fields = await form(request)
    only = [x.strip() for x in fields.get("only", "").replace(",", " ").split() if x.strip()]
    body = api.DeployBody(only=only, include_needs=fields.get("include_needs") == "on")
    out = await api.request_deploy(request, environment, body, who)
    if "run_id" in out:
        return redirect(f"/runs/{out['run_id']}")
    return redirect(f"/plans/{out['plan']}")


# -- runs ----------------------------------------------------------------------------------------------


@router.get("/runs")
def runs_page(
    request: Request,
    who: Reader,
    environment: str | None = None,
    kind: str | None = None,
    outcome: str | None = None,
    actor: str | None = None,
    before: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    if environment:
        authorize(request, Permission.read, environment)
    req = runs.RunsRequest(
        _root(request),
        environment or None,
        50,
        RunKind(kind) if kind else None,
        RunOutcome(outcome) if outcome else None,
        actor or None,
        before,
        who.environments or None,
    )
    result = runs.runs(req, ledger_of(_root(request)))
    filters = {
        k: v
        for k, v in {"environment": environment, "kind": kind, "outcome": outcome, "actor": actor}.items()
        if v
    }
    older = f"/runs?{urlencode({**filters, 'before': result.next_before})}" if result.next_before else None
    envs = who.visible([e.name for e in status.environments(_root(request))])
    return render(
        request, "runs.html", result=result, filters=filters, older=older, environments=envs,
        kinds=[k.value for k in RunKind], outcomes=[o.value for o in RunOutcome],
    )  # fmt: skip


@router.get("/runs/{run_id}")
def run_page(request: Request, run_id: int, who: Reader) -> Response:
    detail = api.visible_run(request, run_id)
    return render(request, "run.html", run=detail, states=runs.STATES)


# -- releases ------------------------------------------------------------------------------------------


@router.get("/environments/{environment}/releases/{release_id}")
async def release_page(
    request: Request,
    environment: str,
    release_id: str,
    who: Reader,
    from_revision: Annotated[int | None, Query(alias="from", ge=1)] = None,
    to_revision: Annotated[int | None, Query(alias="to", ge=1)] = None,
) -> Response:
    authorize(request, Permission.read, environment)
    root = _root(request)
    history = await asyncio.to_thread(
        asyncio.run, status.history(status.HistoryRequest(root, environment, release_id))
    )
    diff = None
    if from_revision and to_revision:
        req = status.RevisionDiffRequest(root, environment, release_id, from_revision, to_revision)
        diff = await asyncio.to_thread(asyncio.run, status.revision_diff(req))
    elif len(history.revisions) >= 2:
        from_revision, to_revision = history.revisions[1].revision, history.revisions[0].revision
    rows = await asyncio.to_thread(api.release_rows, request, environment)
    row = next((r for r in rows["releases"] if r["release"] == release_id), None)
    return render(
        request, "release.html", environment=environment, release_id=release_id, history=history, diff=diff,
        row=row, from_revision=from_revision, to_revision=to_revision,
        may_rollback=who.can(Permission.deploy, environment),
    )  # fmt: skip


@router.get("/environments/{environment}/releases/{release_id}/rollback")
def rollback_confirm(
    request: Request,
    environment: str,
    release_id: str,
    who: Annotated[Principal, Depends(require(Permission.deploy))],
    revision: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    authorize(request, Permission.deploy, environment)
    return render(request, "rollback.html", environment=environment, release_id=release_id, revision=revision)


@router.post("/environments/{environment}/releases/{release_id}/rollback")
async def rollback(
    request: Request,
    environment: str,
    release_id: str,
    who: Annotated[Principal, Depends(require(Permission.deploy))],
) -> Response:
    authorize(request, Permission.deploy, environment)
    fields = await form(request)
    if fields.get("confirm") != release_id:
        raise UsageError(
            f"type the release id {release_id} to confirm the rollback", hint="nothing was rolled back"
        )
    revision = int(fields["revision"]) if fields.get("revision", "").isdigit() else None
    run_id = await api.rollback(request, environment, release_id, revision, who)
    return redirect(f"/runs/{run_id}")


# -- approvals -----------------------------------------------------------------------------------------


@router.get("/approvals")
def approvals_page(request: Request, who: Reader) -> Response:
    envs = who.visible([e.name for e in status.environments(_root(request))])
    return render(request, "approvals.html", plans=api.pending_plans(request, envs).plans)


@router.get("/plans/{plan_id}")
def plan_page(request: Request, plan_id: str, who: Reader) -> Response:
    detail = api.visible_plan(request, plan_id)
    may, why = detail.may_decide(who.user)
    may = (
        may and who.can(Permission.approve, detail.record.environment) and detail.state == "awaiting-approval"
    )
    return render(request, "plan.html", plan=detail, may_decide=may, why_not=why)


@router.post("/plans/{plan_id}/{decision}")
async def decide(
    request: Request,
    plan_id: str,
    decision: str,
    who: Annotated[Principal, Depends(require(Permission.approve))],
) -> Response:
    if decision not in ("approve", "reject"):
        raise UsageError(f"no decision {decision!r}: approve or reject")
    fields = await form(request)
    out = await api.decide(request, plan_id, decision, fields.get("comment") or None, who)
    if "run_id" in out:
        return redirect(f"/runs/{out['run_id']}")
    return redirect(f"/plans/{out['plan']}")


# -- DORA ----------------------------------------------------------------------------------------------


@router.get("/dora")
def dora_page(request: Request, who: Reader, weeks: Annotated[int, Query(ge=4, le=52)] = 12) -> Response:
    envs = (
        tuple(who.visible([e.name for e in status.environments(_root(request))])) if who.environments else ()
    )
    report = started(_st(request).dora, "DORA views").report(envs).report
    trend = started(_st(request).dora, "DORA views").trends(envs, weeks)
    keyed = [(m, metrics.bands(m), trend.environments.get(m.environment, [])) for m in report.environments]
    return render(request, "dora.html", report=report, rows=keyed, weeks=weeks)


@router.get("/dora/{environment}/failures")
def dora_failures(request: Request, environment: str, who: Reader, since: str = "90d") -> Response:
    authorize(request, Permission.read, environment)
    result = metrics.failed_changes(_root(request), environment, since, ledger=ledger_of(_root(request)))
    return render(request, "failures.html", result=result)


# -- incidents -----------------------------------------------------------------------------------------


@router.get("/incidents")
def incidents_page(
    request: Request, who: Reader, status_: Annotated[str | None, Query(alias="status")] = None
) -> Response:
    found = ledger_of(_root(request)).incidents(
        IncidentStatus(status_) if status_ else None, None, 100, environments=who.environments or None
    )
    return render(request, "incidents.html", incidents=found, status=status_)


@router.get("/incidents/{incident_id}")
def incident_page(request: Request, incident_id: int, who: Reader) -> Response:
    record = api.visible_incident(request, incident_id)
    return render(
        request, "incident.html", incident=record, may_act=who.can(Permission.incident, record.environment)
    )


@router.post("/incidents/{incident_id}/{action}")
async def incident_action(
    request: Request,
    incident_id: int,
    action: str,
    who: Annotated[Principal, Depends(require(Permission.incident))],
) -> Response:
    if action not in ("ack", "resolve"):
        raise UsageError(f"no incident action {action!r}: ack or resolve")
    fields = await form(request)
    await asyncio.to_thread(api.incident_action, request, incident_id, action, who, fields.get("rca") or None)
    return redirect(f"/incidents/{incident_id}")


# -- admin ---------------------------------------------------------------------------------------------


@router.get("/admin/audit")
def audit_page(
    request: Request,
    who: Annotated[Principal, Depends(require(Permission.admin))],
    actor: str | None = None,
    action: str | None = None,
    before: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    page = access.audit_log(
        access.AuditRequest(_root(request), actor or None, action or None, None, before, 100),
        ledger_of(_root(request)),
    )
    filters = {k: v for k, v in {"actor": actor, "action": action}.items() if v}
    older = f"/admin/audit?{urlencode({**filters, 'before': page.next_before})}" if page.next_before else None
    return render(request, "audit.html", page=page, filters=filters, older=older)


@router.get("/admin/tokens")
def tokens_page(request: Request, who: Annotated[Principal, Depends(require(Permission.admin))]) -> Response:
    tokens = access.list_tokens(_root(request), ledger=ledger_of(_root(request)))
    envs = [e.name for e in status.environments(_root(request))]
    return render(request, "tokens.html", tokens=tokens.tokens, created=None, environments=envs)


@router.post("/admin/tokens")
async def create_token(
    request: Request, who: Annotated[Principal, Depends(require(Permission.admin))]
) -> Response:
    fields = await form(request)
    from gripctl.ledger.types import TokenRole

    try:
        role = TokenRole(fields.get("role", ""))
    except ValueError:
        raise UsageError(f"no role {fields.get('role')!r}: viewer, deployer, approver or admin") from None
    envs = tuple(x for x in fields.get("environments", "").replace(",", " ").split() if x)
    req = access.TokenRequest(
        _root(request),
        fields.get("user", ""),
        role,
        envs,
        fields.get("expires") or None,
        who.user,
        source(request),
    )
    created = await asyncio.to_thread(access.create_token, req, ledger_of(_root(request)))
    tokens = access.list_tokens(_root(request), ledger=ledger_of(_root(request)))
    envs_all = [e.name for e in status.environments(_root(request))]
    return render(request, "tokens.html", 201, tokens=tokens.tokens, created=created, environments=envs_all)


@router.post("/admin/tokens/{token_id}/revoke")
async def revoke_token(
    request: Request, token_id: str, who: Annotated[Principal, Depends(require(Permission.admin))]
) -> Response:
    await form(request)
    await asyncio.to_thread(
        access.revoke_token,
        _root(request),
        token_id,
        actor=who.user,
        source=source(request),
        ledger=ledger_of(_root(request)),
    )
    return redirect("/admin/tokens")
