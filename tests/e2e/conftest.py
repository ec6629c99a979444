"""Fixtures for the end-to-end tests: a private copy of examples/webgrip on the sandbox (removed from the
cluster afterwards), `plaintext_watch` (tests/secrets), and loopback HTTP and SMTP receivers."""

from __future__ import annotations

import socket
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope, Session

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "secrets"))

from e2e_helpers import E2EPlatform, HttpReceiver, Mailbox, Request, copy_platform
from plaintext_watch import PlaintextWatch, plaintext_watch

from gripctl.adapters.sandbox import SandboxInfo


@pytest.fixture
def webgrip(tmp_path: Path, sandbox: SandboxInfo) -> Iterator[E2EPlatform]:
    platform = copy_platform(tmp_path, str(sandbox.kubeconfig), sandbox.context)
    try:
        yield platform
    finally:
        platform.cleanup()


@pytest.fixture
def http_receiver() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            receiver.requests.append(
                Request(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            )
            self.send_response(202)
            self.end_headers()
            self.wfile.write(b'{"status": "success"}')

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def smtp_server() -> Iterator[Mailbox]:
    """Plain SMTP on loopback (STARTTLS and AUTH are covered by tests/notify; here only arrival counts)."""
    box = Mailbox("127.0.0.1", 0)

    class Store:
        async def handle_DATA(self, server: object, session: Session, envelope: Envelope) -> str:
            box.messages.append(envelope)
            return "250 OK"

    # aiosmtpd's start() connects to its own port to check readiness, so port 0 cannot be used.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        box.port = probe.getsockname()[1]
    controller = Controller(Store(), hostname=box.host, port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


__all__ = ["HttpReceiver", "Mailbox", "PlaintextWatch", "http_receiver", "plaintext_watch", "smtp_server"]
