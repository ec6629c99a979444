"""Helpers of the server's tests: the real server on a loopback port (uvicorn in a thread of the test
process) with API tokens, and platform repositories without a cluster. A module of its own (not the
conftest) so that test files import it by a name no other folder uses."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from gripctl.ledger.types import TokenRole
from gripctl.service.access import TokenRequest, create_token
from gripctl.service.workspace import close_ledgers


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
