"""Fixtures for the server's tests and for tests that drive a real browser.

- `platform` / `server`: a platform repository, and the real server on it (uvicorn on a loopback port,
  in a thread of the test process); `Server.token()` makes API tokens.
- `browser` (session): a headless chromium (Debian's, through Playwright), skipped with a hint when
  scripts/browser.sh has not installed it (`make test` does). GRIPCTL_CHROMIUM points at another
  executable.
- `page` (function): a fresh page in its own browser context (no cookies or storage shared between
  tests), closed after the test.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from playwright.sync_api import Browser, Page, sync_playwright

from gripctl.ledger.types import TokenRole
from gripctl.service.access import TokenRequest, create_token
from gripctl.service.workspace import close_ledgers

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))

from receivers import http_receiver  # a fixture for the approval notification test

__all__ = ["http_receiver"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    root: Path
    app: Any
    tokens: dict[str, str] = field(default_factory=dict)

    def token(self, user: str, role: str, environments: tuple[str, ...] = (), key: str | None = None) -> str:
        """A new API token (remembered under `key`, default the user's name)."""
        created = create_token(TokenRequest(self.root, user, TokenRole(role), environments, None, "test"))
        self.tokens[key or user] = created.token
        return created.token

    def client(self, token: str | None = None, **kw: Any) -> httpx.Client:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60.0, follow_redirects=False, **kw)

    def api(self, token: str, method: str, path: str, **kw: Any) -> httpx.Response:
        with self.client(token) as c:
            return c.request(method, path, **kw)


@contextmanager
def running_server(root: Path, **config: Any) -> Iterator[Server]:
    """`gripctl serve`'s app on a free loopback port until the block ends."""
    import uvicorn

    from gripctl.web.app import ServerConfig, create_app

    app = create_app(ServerConfig(root=root, **config))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="gripctl-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield Server(f"http://127.0.0.1:{port}", root, app)
    finally:
        server.should_exit = True
        thread.join(30)
        close_ledgers()


def write_platform(root: Path, environments: dict[str, Any], **extra: Any) -> Path:
    """A platform repository without releases (enough for everything but the cluster)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "gripctl.yaml").write_text(
        yaml.safe_dump({"apiVersion": "gripctl/v1", "environments": environments, **extra}, sort_keys=False)
    )
    return root


ENVIRONMENTS = {
    "staging": {"context": "no-such-context"},
    "production": {
        "context": "no-such-context",
        "approval": "required",
        "approvers": ["alice", "bob", "carol"],
    },
}


@pytest.fixture
def platform(tmp_path: Path) -> Path:
    return write_platform(tmp_path / "repo", ENVIRONMENTS)


@pytest.fixture
def server(platform: Path) -> Iterator[Server]:
    with running_server(platform, status_every=3600, worker=False) as s:
        yield s


# -- the browser ---------------------------------------------------------------------------------------

CHROMIUM = os.environ.get("GRIPCTL_CHROMIUM", "/usr/bin/chromium")
# Playwright's own browser download cannot work here, so it launches Debian's chromium. These machines
# refuse chromium's background connections (component updates, sync, field trials): switched off, they
# cost neither start-up time nor log noise. There is no sandbox-capable kernel setup and no GPU either.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"no browser at {CHROMIUM}: run scripts/browser.sh (make test does)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 800, "height": 600})
    try:
        yield context.new_page()
    finally:
        context.close()
