"""Authentication and authorization of the server, deny by default.

- An API client sends `Authorization: Bearer grip_<id>.<secret>`; the token is verified against its
  argon2 hash once, then remembered (by a SHA-256 of the presented text) for a minute. Every request
  still re-reads the token's row, so a revoked or expired token stops working at once.
- A browser logs in with a token once and gets a signed session cookie (HttpOnly, SameSite=Strict,
  Secure behind HTTPS) naming the token; each request re-checks that token too. Forms carry the
  session's CSRF token; an API mutation made with the cookie needs it in `X-CSRF-Token`.
- Failed logins are throttled per address and per token id (5 in 5 minutes).

Every route requires a principal (401 without one) except the few in `PUBLIC`; each route then checks
its permission for the environment it touches (403).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import HTTPException, Request

from gripctl.errors import GripError
from gripctl.ledger.types import TokenRole
from gripctl.service.access import Permission, Principal, authenticate, principal_of, split_token, still_valid
from gripctl.service.workspace import ledger_of

SESSION_COOKIE = "gripctl_session"
SESSION_SECONDS = 12 * 3600
PUBLIC = ("/healthz", "/readyz", "/login", "/static/", "/favicon.ico")
TOKEN_CACHE_SECONDS = 60.0


class Unauthenticated(HTTPException):
    def __init__(self) -> None:
        super().__init__(401, "authentication required", headers={"WWW-Authenticate": "Bearer"})


class Forbidden(HTTPException):
    def __init__(self, why: str) -> None:
        super().__init__(403, why)


@dataclass
class Session:
    token_id: str
    user: str
    expires: float
    csrf: str


class Signer:
    """HMAC-SHA256 over the session's JSON: the cookie cannot be forged or altered without the key."""

    def __init__(self, key: bytes) -> None:
        self.key = key

    def dumps(self, session: Session) -> str:
        body = base64.urlsafe_b64encode(json.dumps(session.__dict__, sort_keys=True).encode()).decode()
        return f"{body}.{self._mac(body)}"

    def loads(self, value: str) -> Session | None:
        body, _, mac = value.partition(".")
        if not body or not hmac.compare_digest(mac, self._mac(body)):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(body.encode()))
            session = Session(
                str(data["token_id"]), str(data["user"]), float(data["expires"]), str(data["csrf"])
            )
        except (ValueError, KeyError, TypeError):
            return None
        return session if session.expires > time.time() else None

    def _mac(self, body: str) -> str:
        return hmac.new(self.key, body.encode(), hashlib.sha256).hexdigest()


def session_key(root: Path, configured: str | None) -> bytes:
    """The key sessions are signed with: GRIPCTL_SESSION_SECRET (every replica must share it), else one
    generated once and kept in `.gripctl/session.key` (mode 0600) for a single server."""
    if configured:
        return hashlib.sha256(configured.encode()).digest()
    path = root / ".gripctl" / "session.key"
    try:
        return bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError):
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_bytes(32)
        path.touch(mode=0o600)
        path.write_text(key.hex())
        return key


@dataclass
class Throttle:
    """At most `limit` failures per `window` seconds per key (an address, a token id)."""

    limit: int = 5
    window: float = 300.0
    _failures: dict[str, deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._failures.setdefault(key, deque())
        while q and q[0] <= now - self.window:
            q.popleft()
        return q

    def blocked(self, keys: list[str]) -> float:
        """Seconds until every key may try again (0: allowed now)."""
        now = time.monotonic()
        with self._lock:
            waits = [q[0] + self.window - now for k in keys if len(q := self._recent(k, now)) >= self.limit]
        return max(waits, default=0.0)

    def fail(self, keys: list[str]) -> None:
        now = time.monotonic()
        with self._lock:
            for k in keys:
                self._recent(k, now).append(now)


@dataclass
class Auth:
    root: Path
    signer: Signer
    secure_cookies: bool = False
    throttle: Throttle = field(default_factory=Throttle)
    _verified: dict[str, tuple[str, float]] = field(default_factory=dict)  # sha256(token) -> (id, when)

    # -- who is asking -------------------------------------------------------------------------------

    def from_bearer(self, token: str) -> Principal | None:
        ledger = ledger_of(self.root)
        digest = hashlib.sha256(token.encode()).hexdigest()
        cached = self._verified.get(digest)
        if cached is not None and time.monotonic() - cached[1] < TOKEN_CACHE_SECONDS:
            record = still_valid(ledger, cached[0])
            return principal_of(record) if record is not None else None
        try:
            principal = authenticate(ledger, token)
        except GripError:
            self._verified.pop(digest, None)
            return None
        if principal.token_id:
            self._verified[digest] = (principal.token_id, time.monotonic())
        return principal

    def session(self, request: Request) -> Session | None:
        value = request.cookies.get(SESSION_COOKIE)
        return self.signer.loads(value) if value else None

    def principal(self, request: Request) -> Principal | None:
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            return self.from_bearer(header[7:].strip())
        session = self.session(request)
        if session is None:
            return None
        record = still_valid(ledger_of(self.root), session.token_id)
        return principal_of(record) if record is not None else None

    # -- logging in ----------------------------------------------------------------------------------

    def login(self, token: str, address: str) -> tuple[Session | None, str]:
        """A new session for a valid token, or None and why (throttled or refused)."""
        parts = split_token(token)
        keys = [f"addr:{address}"] + ([f"token:{parts[0]}"] if parts else [])
        wait = self.throttle.blocked(keys)
        if wait > 0:
            return None, f"too many failed logins: try again in {int(wait) + 1} s"
        principal = self.from_bearer(token) if parts else None
        if principal is None or principal.token_id is None:
            self.throttle.fail(keys)
            return None, "that token is not valid (unknown, wrong, revoked or expired)"
        session = Session(
            principal.token_id, principal.user, time.time() + SESSION_SECONDS, secrets.token_urlsafe(24)
        )
        return session, ""

    def cookie(self, session: Session) -> dict[str, Any]:
        return {
            "key": SESSION_COOKIE,
            "value": self.signer.dumps(session),
            "max_age": SESSION_SECONDS,
            "httponly": True,
            "samesite": "strict",
            "secure": self.secure_cookies,
            "path": "/",
        }


def public(path: str) -> bool:
    return any(path == p or (p.endswith("/") and path.startswith(p)) for p in PUBLIC)


def principal(request: Request) -> Principal:
    """The request's principal (set by the `authenticated` dependency every route runs first)."""
    found = getattr(request.state, "principal", None)
    if not isinstance(found, Principal):
        raise Unauthenticated()
    return found


def authorize(request: Request, permission: Permission, environment: str | None = None) -> Principal:
    """The principal if it may do `permission` in `environment`; 403 otherwise."""
    who = principal(request)
    if not who.can(permission, environment):
        where = f" in {environment}" if environment else ""
        raise Forbidden(f"{who.user} ({who.role.value}) may not {permission.value}{where}")
    return who


def require(permission: Permission) -> Callable[[Request], Principal]:
    """A route dependency: the principal must hold `permission` — in the route's `{environment}` when
    its path names one (checked before anything else of the request is read). Routes that find their
    environment later (a run, a plan, an incident) check it again with `authorize`."""

    def dependency(request: Request) -> Principal:
        return authorize(request, permission, request.path_params.get("environment"))

    dependency.permission = permission  # type: ignore[attr-defined]  # read by the route audit test
    return dependency


def check_csrf(request: Request, presented: str | None) -> None:
    """A cookie-authenticated mutation must present the session's CSRF token (a form field, or the
    X-CSRF-Token header); a bearer-token request carries no ambient credential and needs none."""
    if request.headers.get("authorization", "").lower().startswith("bearer "):
        return
    session: Session | None = getattr(request.state, "session", None)
    token = presented or request.headers.get("x-csrf-token")
    if session is None or not token or not hmac.compare_digest(token, session.csrf):
        raise Forbidden("missing or wrong CSRF token: reload the page and try again")


def source(request: Request) -> str:
    """The client's address for the audit log (behind a proxy: uvicorn's --forwarded-allow-ips)."""
    return request.client.host if request.client else "unknown"


ROLES = tuple(r.value for r in TokenRole)
