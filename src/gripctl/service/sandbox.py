"""The local sandbox cluster (kwok simulated nodes on a real control plane) for demos and tests."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from gripctl.adapters import sandbox as adapter
from gripctl.adapters.sandbox import SandboxInfo, SandboxStatus


@dataclass
class Up:
    info: SandboxInfo
    already_running: bool
    seconds: float
    user_kubeconfig: str

    def to_dict(self) -> dict[str, Any]:
        return {**self.info.to_dict(), "already_running": self.already_running, "seconds": self.seconds}


def running() -> bool:
    return adapter.info() is not None


def up(*, nodes: int = 3, port: int | None = None) -> Up:
    """Start the sandbox, or return at once when it is already running."""
    was_running = running()
    started = time.monotonic()
    info = adapter.up(nodes=nodes, port=port)
    return Up(info, was_running, round(time.monotonic() - started, 1), str(adapter.user_kubeconfig()))


def down() -> bool:
    """Stop and remove the sandbox; False when it was not running."""
    was_running = adapter.status() is not None
    adapter.down()
    return was_running


def status() -> SandboxStatus | None:
    return adapter.status()
