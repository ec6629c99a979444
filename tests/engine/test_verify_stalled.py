"""Verification ends at the release's timeout even when the API server holds a read: etcd stopped (an
API server whose etcd is stopped holds a read that must reach it, without answering)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any, cast

from gripctl.adapters.kube import Kube
from gripctl.engine.verify import ClusterView, verify_release

Obj = dict[str, Any]


class StalledKube:
    """An API server whose etcd is stopped: a read that must reach etcd gets no answer (until released),
    its /readyz says why."""

    server = "https://127.0.0.1:6443"

    def __init__(self) -> None:
        self.release = threading.Event()
        self.reads = 0

    def get(self, kind: str, namespace: str | None, name: str) -> Obj | None:
        self.reads += 1
        self.release.wait(30)
        return None

    def unready(self, timeout: float = 5.0) -> str | None:
        return "its /readyz says 500: Internal Server Error\n[+]ping ok\n[-]etcd failed: reason withheld"


async def test_a_read_held_by_a_stopped_etcd_cannot_outlast_the_release_timeout() -> None:
    """Caught by tests/chaos/test_control_plane.py: etcd paused just as verification began held its
    baseline read for the whole pause, and the release timed out 5 s late, blaming the pod."""
    kube = StalledKube()
    view = ClusterView(cast(Kube, kube))
    manifest = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec: {}\n"
    started = asyncio.get_running_loop().time()
    try:
        result = await verify_release(cast(Kube, kube), view, manifest, "ns", timeout_seconds=1.0)
    finally:
        kube.release.set()
    elapsed = asyncio.get_running_loop().time() - started
    assert kube.reads == 1
    assert not result.ok
    assert elapsed < 3.0, elapsed  # the 1 s timeout, not the 30 s the read was held
    assert result.reason.startswith(f"timed out after 1s: the Kubernetes API at {kube.server} cannot serve")
    assert "[-]etcd failed" in result.reason and "is the cluster up?" in result.reason
