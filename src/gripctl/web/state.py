"""The server's state, shared by its routes: its configuration and the parts it runs (auth, pages,
live runs, cached views, the worker)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from fastapi import Request

from gripctl.web.auth import Auth
from gripctl.web.live import Broker, Runner
from gripctl.web.render import Pages
from gripctl.web.views import DoraViews, Memo, StatusViews


@dataclass
class ServerConfig:
    root: Path
    session_secret: str | None = None  # GRIPCTL_SESSION_SECRET; replicas must share one
    secure_cookies: bool = False  # behind HTTPS (the reverse proxy terminates TLS): mark cookies Secure
    status_every: float = 60.0  # how often release health and drift are looked at again
    worker: bool = True  # run the leader-elected jobs (incident escalation, approval expiry, checks)
    worker_ttl: float = 15.0
    worker_interval: float = 1.0
    escalate_every: float = 10.0
    drift_every: float = 300.0  # the leader's scheduled drift check of every environment; 0: none
    public_url: str | None = None  # overrides gripctl.yaml's server.url in links


@dataclass
class State:
    config: ServerConfig
    auth: Auth
    pages: Pages
    broker: Broker = field(default_factory=Broker)
    runner: Runner | None = None
    status: StatusViews | None = None
    dora: DoraViews | None = None
    memo: Memo | None = None
    worker: Any = None
    ready: bool = False


def state(request: Request) -> State:
    found: State = request.app.state.gripctl
    return found


T = TypeVar("T")


def started(part: T | None, what: str) -> T:
    """A part the server starts in its lifespan (views, cache, runner), once it has."""
    if part is None:
        raise RuntimeError(f"the server's {what} is not started yet")
    return part
