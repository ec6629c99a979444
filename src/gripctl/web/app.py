"""The server's application: the JSON API under /api/v1, the dashboard, /metrics, health probes, event
streams and the worker, over one platform repository and its ledger.

A face: it parses requests, calls `gripctl.service`, and renders. `create_app(ServerConfig)` builds it;
`gripctl serve` runs it on uvicorn.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from gripctl import __version__
from gripctl.errors import ApprovalError, GripError, LockedError, PlanStaleError, UsageError
from gripctl.service.access import Permission, Principal
from gripctl.service.workspace import keep_ledgers_open, ledger_of
from gripctl.web.auth import Auth, Signer, public, require, session_key
from gripctl.web.live import Runner
from gripctl.web.render import Pages
from gripctl.web.state import ServerConfig, State, state
from gripctl.web.views import DoraViews, Memo, StatusViews

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"

# Content-Security-Policy without inline script or style: the pages load /static/app.js and app.css
# only; SVG charts are markup with presentation attributes, which CSP does not govern.
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
    ),
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cross-origin-opener-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
}


async def authenticated(request: Request) -> None:
    """Every route's first dependency: deny by default. Only PUBLIC paths pass without a principal."""
    if public(request.url.path):
        return
    st = state(request)
    who = await asyncio.to_thread(st.auth.principal, request)
    if who is None:
        from gripctl.web.auth import Unauthenticated

        raise Unauthenticated()
    request.state.principal = who
    request.state.session = st.auth.session(request)


def _security_headers(app: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
    """Pure ASGI (streams pass through untouched): the security headers on every response."""

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        started = time.perf_counter()

        async def sending(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers += [
                    (k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items() if k.encode() not in present
                ]
                # The server's own time to the response's start (W3C Server-Timing): what the benchmark
                # reads, and what a browser's developer tools show next to the network time.
                spent = (time.perf_counter() - started) * 1000
                headers.append((b"server-timing", f"app;dur={spent:.1f}".encode()))
                message["headers"] = headers
            await send(message)

        await app(scope, receive, sending)

    return wrapped


def create_app(config: ServerConfig) -> FastAPI:
    keep_ledgers_open()
    root = config.root.resolve()
    config.root = root
    ledger_of(root)  # open (and migrate) the ledger now: a bad URL fails `serve` at once
    auth = Auth(root, Signer(session_key(root, config.session_secret)), config.secure_cookies)
    st = State(config, auth, Pages(root, config.public_url))

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from gripctl.service.worker import Worker, default_jobs

        st.broker.bind(asyncio.get_running_loop())
        st.status = StatusViews(root, config.status_every)
        st.dora = DoraViews(root)
        st.memo = Memo(root)
        st.runner = Runner(st.broker, on_finished=st.status.refresh_soon)
        stop = asyncio.Event()
        tasks = [asyncio.create_task(st.status.run(stop)), asyncio.create_task(st.dora.run(stop))]
        if config.worker:
            st.worker = Worker(
                root,
                default_jobs(escalate_every=config.escalate_every, drift_every=config.drift_every),
                ttl=config.worker_ttl,
                interval=config.worker_interval,
            )
            tasks.append(asyncio.create_task(st.worker.run(stop)))
        st.ready = True
        try:
            yield
        finally:
            st.ready = False
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.to_thread(st.runner.join, 30.0)

    app = FastAPI(
        title="gripctl",
        version=__version__,
        description="The deployment system of a Helm-based Kubernetes platform: its API.",
        openapi_url=None,  # served below, behind authentication like every other route
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
        dependencies=[Depends(authenticated)],
    )
    app.state.gripctl = st
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    from gripctl.web import api, pages

    app.include_router(api.router)
    app.include_router(pages.router)

    @app.get("/api/v1/openapi.json", include_in_schema=False)
    def openapi(who: Principal = Depends(require(Permission.read))) -> JSONResponse:
        return JSONResponse(app.openapi())

    _errors(app)
    app.add_middleware(_Headers)
    return app


class _Headers:
    def __init__(self, app: Callable[..., Awaitable[None]]) -> None:
        self.app = _security_headers(app)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


def wants_html(request: Request) -> bool:
    return not request.url.path.startswith(("/api/", "/metrics")) and "text/html" in request.headers.get(
        "accept", "text/html"
    )


def _errors(app: FastAPI) -> None:
    from starlette.exceptions import HTTPException as StarletteHTTPException

    statuses: list[tuple[type[GripError], int]] = [
        (LockedError, 409),
        (PlanStaleError, 409),
        (ApprovalError, 409),
        (UsageError, 400),
    ]

    @app.exception_handler(GripError)
    async def grip_error(request: Request, exc: GripError) -> Response:
        code = next((c for t, c in statuses if isinstance(exc, t)), 422)
        if wants_html(request):
            return state(request).pages.error(request, code, exc.message, exc.hint)
        return JSONResponse(exc.to_dict(), status_code=code)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if wants_html(request):
            if exc.status_code == 401:
                return state(request).pages.login(request, status_code=401)
            return state(request).pages.error(request, exc.status_code, str(exc.detail), None)
        word = {401: "unauthenticated", 403: "forbidden", 404: "not found"}.get(exc.status_code, "error")
        return JSONResponse(
            {"error": word, "message": str(exc.detail)},
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> Response:
        errors = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        if wants_html(request):
            return state(request).pages.error(request, 400, "; ".join(errors), None)
        return JSONResponse({"error": "bad request", "message": "; ".join(errors)}, status_code=400)


def from_environment() -> FastAPI:
    """The app `gripctl serve` runs (uvicorn's factory): its options from GRIPCTL_SERVE_* variables."""
    import os

    env = os.environ
    return create_app(
        ServerConfig(
            root=Path(env.get("GRIPCTL_SERVE_ROOT", ".")),
            session_secret=env.get("GRIPCTL_SESSION_SECRET") or None,
            secure_cookies=env.get("GRIPCTL_SERVE_SECURE_COOKIES") == "1",
            status_every=float(env.get("GRIPCTL_SERVE_STATUS_EVERY", "60")),
            worker=env.get("GRIPCTL_SERVE_WORKER", "1") == "1",
            worker_ttl=float(env.get("GRIPCTL_SERVE_WORKER_TTL", "15")),
            escalate_every=float(env.get("GRIPCTL_SERVE_ESCALATE_EVERY", "10")),
            drift_every=float(env.get("GRIPCTL_SERVE_DRIFT_EVERY", "300")),
        )
    )
