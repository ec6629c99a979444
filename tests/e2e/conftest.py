"""Fixtures for the end-to-end tests: a private copy of examples/webgrip on the sandbox (removed from the
cluster afterwards), `plaintext_watch` (tests/secrets), and loopback HTTP and SMTP receivers."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "secrets"))

from e2e_helpers import E2EPlatform, copy_platform
from plaintext_watch import PlaintextWatch, plaintext_watch

from gripctl.adapters.sandbox import SandboxInfo
from receivers import HttpReceiver, Mailbox, http_receiver, smtp_server


@pytest.fixture
def webgrip(tmp_path: Path, sandbox: SandboxInfo) -> Iterator[E2EPlatform]:
    platform = copy_platform(tmp_path, str(sandbox.kubeconfig), sandbox.context)
    try:
        yield platform
    finally:
        platform.cleanup()


__all__ = ["HttpReceiver", "Mailbox", "PlaintextWatch", "http_receiver", "plaintext_watch", "smtp_server"]
