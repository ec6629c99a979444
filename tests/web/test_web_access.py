"""Deny by default, on the real server: every route of the OpenAPI document (and every dashboard page)
answers 401 without a token and 403 to a principal without the permission or the environment; sessions
are signed, HttpOnly and SameSite=Strict; forms without the CSRF token are refused; failed logins are
throttled; every response carries the security headers."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from web_helpers import Server

from gripctl.service.access import Permission
from gripctl.service.workspace import ledger_of
from gripctl.web.auth import PUBLIC

# What each route needs, by the permission its dependency declares; a route without one is a finding.
PARAMS = {"environment": "staging", "release_id": "010-a", "run_id": "1", "plan_id": "abcdef123456",
          "incident_id": "1", "token_id": "abcdef"}  # fmt: skip
BODIES: dict[str, Any] = {
    "/api/v1/tokens": {"user": "x", "role": "viewer"},
    "/api/v1/environments/{environment}/releases/{release_id}/rollback": {},
    "/api/v1/environments/{environment}/deploys": {},
}


def _routes(server: Server, admin: str) -> list[tuple[str, str, str]]:
    """(method, template, concrete path) of every operation in the OpenAPI document."""
    doc = server.api(admin, "GET", "/api/v1/openapi.json").json()
    out = []
    for template, ops in doc["paths"].items():
        for method in ops:
            path = re.sub(r"\{(\w+)\}", lambda m: PARAMS[m.group(1)], template)
            out.append((method.upper(), template, path))
    return out


def _flat(app: Any) -> list[Any]:
    """The app's routes, those of included routers among them (FastAPI keeps them behind a wrapper)."""
    out = []
    for route in app.routes:
        inner = getattr(route, "original_router", None)
        out += list(inner.routes) if inner is not None else [route]
    return out


def _page_routes(server: Server) -> list[tuple[str, str]]:
    out = []
    for route in _flat(server.app):
        path = getattr(route, "path", "")
        if getattr(route, "include_in_schema", True) or path.startswith("/static") or path in ("/login",):
            continue
        concrete = re.sub(
            r"\{(\w+)\}", lambda m: {**PARAMS, "decision": "approve", "action": "ack"}[m.group(1)], path
        )
        out += [(m, concrete) for m in sorted(getattr(route, "methods", set()) - {"HEAD"})]
    return out


def _permission(server: Server, template: str, method: str) -> Permission | None:
    for route in _flat(server.app):
        if getattr(route, "path", None) == template and method in getattr(route, "methods", ()):
            for dep in route.dependant.dependencies:  # type: ignore[attr-defined]
                found = getattr(dep.call, "permission", None)
                if found is not None:
                    return Permission(found)
    return None


def test_every_route_is_denied_by_default(server: Server) -> None:
    admin = server.token("root", "admin")
    viewer = server.token("victor", "viewer")
    scoped = server.token("paula", "admin", ("production",), key="prod-admin")
    routes = _routes(server, admin)
    assert len(routes) >= 25, routes
    public = [(m, t) for m, t, _ in routes if t in ("/healthz", "/readyz")]
    assert sorted(public) == [("GET", "/healthz"), ("GET", "/readyz")]
    checked = 0
    for method, template, path in routes:
        if template in ("/healthz", "/readyz"):
            continue
        body = BODIES.get(template, {"comment": "x"}) if method in ("POST", "DELETE") else None
        with httpx.Client(base_url=server.url, timeout=30) as anonymous:
            answer = anonymous.request(method, path, json=body)
            assert answer.status_code == 401, (method, path, answer.text)
            assert answer.headers["www-authenticate"] == "Bearer"
            wrong = anonymous.request(
                method, path, json=body, headers={"authorization": "Bearer grip_nope.nope"}
            )
            assert wrong.status_code == 401, (method, path)
        needed = _permission(server, template, method)
        assert needed is not None, f"{method} {template} declares no permission"
        if needed is not Permission.read:  # a viewer holds only `read`
            answer = server.api(viewer, method, path, json=body)
            assert answer.status_code == 403, (method, path, answer.status_code, answer.text)
            assert answer.json()["error"] == "forbidden"
        if "{environment}" in template:  # staging, outside the scoped admin's environments
            answer = server.api(scoped, method, path, json=body)
            assert answer.status_code == 403, (method, path, answer.status_code, answer.text)
        checked += 1
    assert checked == len(routes) - 2
    # The dashboard pages: 401 with the login form, never the page.
    pages = _page_routes(server)
    assert len(pages) >= 15, pages
    with httpx.Client(base_url=server.url, timeout=30) as anonymous:
        for method, path in pages:
            answer = anonymous.request(method, path, headers={"accept": "text/html"})
            assert answer.status_code == 401, (method, path, answer.status_code)
            if not path.startswith("/api/"):
                assert 'name="token"' in answer.text and "Log in" in answer.text, (method, path)


def test_public_routes_are_only_the_probes_login_and_static(server: Server) -> None:
    assert PUBLIC == ("/healthz", "/readyz", "/login", "/static/", "/favicon.ico")
    with httpx.Client(base_url=server.url) as c:
        assert c.get("/healthz").json() == {"status": "ok"}
        assert c.get("/readyz").json()["status"] == "ready"
        assert c.get("/static/app.css").status_code == 200
        assert c.get("/metrics").status_code == 401
        assert c.get("/api/v1/openapi.json").status_code == 401


def login(server: Server, token: str, client: httpx.Client, address_ok: bool = True) -> httpx.Response:
    form = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf is not None, form.text
    return client.post("/login", data={"csrf": csrf.group(1), "token": token, "next": "/runs"})


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None and found.group(1), html
    return found.group(1)


def test_login_sets_a_signed_strict_httponly_session(server: Server) -> None:
    token = server.token("bob", "approver")
    with server.client() as c:
        answer = login(server, token, c)
        assert answer.status_code == 303 and answer.headers["location"] == "/runs"
        cookie = answer.headers["set-cookie"]
        assert (
            "gripctl_session=" in cookie
            and "HttpOnly" in cookie
            and "SameSite=strict" in cookie.replace("Strict", "strict")
        )
        assert c.get("/runs").status_code == 200
        assert c.get("/api/v1/me").json()["user"] == "bob"
        # A tampered cookie is no session.
        value = c.cookies["gripctl_session"]
        c.cookies.set("gripctl_session", value[:-2] + ("00" if value[-2:] != "00" else "11"))
        assert c.get("/runs", headers={"accept": "text/html"}).status_code == 401
    audit = ledger_of(server.root).audit_log(action="login")
    assert [(e.actor, e.source) for e in audit] == [("bob", "127.0.0.1")]


def test_forms_and_cookie_mutations_need_the_csrf_token(server: Server) -> None:
    token = server.token("bob", "approver")
    with server.client() as c:
        assert login(server, token, c).status_code == 303
        page = c.get("/approvals")
        csrf = csrf_of(page.text)
        for data in ({"comment": "ok"}, {"comment": "ok", "csrf": "forged"}):
            refused = c.post("/plans/abcdef123456/approve", data=data, headers={"accept": "text/html"})
            assert refused.status_code == 403 and "CSRF" in refused.text
        refused = c.post("/api/v1/plans/abcdef123456/approve", json={"comment": "x"})
        assert refused.status_code == 403 and "CSRF" in refused.json()["message"]
        # With the token the request goes through to the service (which knows no such plan).
        passed = c.post("/plans/abcdef123456/approve", data={"csrf": csrf}, headers={"accept": "text/html"})
        assert passed.status_code == 400 and "no plan" in passed.text
        passed = c.post("/api/v1/plans/abcdef123456/approve", json={}, headers={"x-csrf-token": csrf})
        assert passed.status_code == 400
        # The login form is protected too (double submit).
        forged = c.post("/login", data={"csrf": "x", "token": token})
        assert forged.status_code == 403
    assert ledger_of(server.root).approvals("abcdef123456" * 5 + "abcd") == []


def test_failed_logins_are_throttled(server: Server) -> None:
    token = server.token("bob", "approver")
    token_id = token.split("_", 1)[1].split(".")[0]
    with server.client() as c:
        for _ in range(5):
            assert login(server, f"grip_{token_id}.wrong-secret-of-enough-length", c).status_code == 401
        blocked = login(server, token, c)  # even the right token, from this address, for now
        assert blocked.status_code == 429 and "too many failed logins" in blocked.text
        assert "gripctl_session" not in blocked.headers.get("set-cookie", "")


def test_security_headers_on_every_response(server: Server) -> None:
    with server.client() as c:
        for path in ("/healthz", "/login", "/api/v1/runs", "/static/app.js"):
            headers = c.get(path).headers
            csp = headers["content-security-policy"]
            assert (
                "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
            )
            assert headers["x-frame-options"] == "DENY"
            assert headers["x-content-type-options"] == "nosniff"
    html = (Path(__file__).resolve().parents[2] / "src" / "gripctl" / "web" / "templates").glob("*.html")
    for template in html:
        text = template.read_text()
        assert "<script>" not in text and " onclick=" not in text and " style=" not in text, template.name


def test_revoked_or_expired_tokens_stop_at_once(server: Server) -> None:
    token = server.token("bob", "approver")
    assert server.api(token, "GET", "/api/v1/me").status_code == 200  # verified and remembered
    with server.client() as c:
        assert login(server, token, c).status_code == 303
        admin = server.token("root", "admin")
        token_id = token.split("_", 1)[1].split(".")[0]
        assert server.api(admin, "DELETE", f"/api/v1/tokens/{token_id}").status_code == 200
        assert server.api(token, "GET", "/api/v1/me").status_code == 401
        assert c.get("/api/v1/me").status_code == 401
    actions = [e.action for e in ledger_of(server.root).audit_log()]
    assert "token.revoke" in actions and actions.count("token.create") == 2


@pytest.mark.parametrize("role", ["viewer", "deployer", "approver", "admin"])
def test_me_says_who_and_what(server: Server, role: str) -> None:
    token = server.token("x", role, ("production",))
    me = server.api(token, "GET", "/api/v1/me").json()
    assert me["user"] == "x" and me["role"] == role and me["environments"] == ["production"]
    assert ("approve" in me["permissions"]) == (role in ("approver", "admin"))
    assert ("deploy" in me["permissions"]) == (role in ("deployer", "admin"))
