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


def running(name: str | None = None) -> bool:
    adapter.check_name(name)
    return adapter.info(name) is not None


def up(*, nodes: int = 3, port: int | None = None, name: str | None = None) -> Up:
    """Start the sandbox (or the sandbox `name`, beside the default one), or return at once when it is
    already running."""
    was_running = running(name)
    started = time.monotonic()
    info = adapter.up(nodes=nodes, port=port, name=name)
    return Up(info, was_running, round(time.monotonic() - started, 1), str(adapter.user_kubeconfig()))


def down(name: str | None = None) -> bool:
    """Stop and remove the sandbox (or the sandbox `name`); False when it was not running."""
    adapter.check_name(name)
    was_running = adapter.status(name) is not None
    adapter.down(name=name)
    return was_running


def status(name: str | None = None) -> SandboxStatus | None:
    adapter.check_name(name)
    return adapter.status(name)


def context(name: str | None = None) -> str:
    """The kubeconfig context of the sandbox `name` (or of the default one)."""
    adapter.check_name(name)
    return adapter.cluster_name(name)
