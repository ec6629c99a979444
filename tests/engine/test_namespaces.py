"""LiveCluster.ensure_namespace: each release namespace is created once per run through the API, with helm's
label; when the API refuses, helm's own --create-namespace is asked to do it instead."""

from __future__ import annotations

import asyncio
import threading
from typing import cast

from gripctl.adapters.kube import Kube
from gripctl.engine.ports import LiveCluster
from gripctl.engine.verify import ClusterView


class FakeKube:
    """Records ensure_namespace calls; raises like a cluster that forbids reading namespaces."""

    def __init__(self, error: Exception | None = None) -> None:
        self.calls: list[tuple[str, dict[str, str] | None]] = []
        self.error = error
        self.lock = threading.Lock()

    def ensure_namespace(self, name: str, labels: dict[str, str] | None = None) -> None:
        with self.lock:
            self.calls.append((name, labels))
        if self.error is not None:
            raise self.error


async def _ensure_all(kube: FakeKube, names: list[str]) -> list[bool]:
    cluster = LiveCluster(cast(Kube, kube), cast(ClusterView, None))  # namespaces need no watches
    return list(await asyncio.gather(*(cluster.ensure_namespace(n) for n in names)))


def test_each_namespace_is_created_once_with_helms_label() -> None:
    kube = FakeKube()
    got = asyncio.run(_ensure_all(kube, ["apps", "apps", "monitoring", "apps"]))
    assert got == [True, True, True, True]
    assert sorted(kube.calls) == [("apps", {"name": "apps"}), ("monitoring", {"name": "monitoring"})]


def test_refused_by_the_api_leaves_it_to_helm() -> None:
    kube = FakeKube(error=RuntimeError("namespaces is forbidden: User cannot get resource"))
    got = asyncio.run(_ensure_all(kube, ["apps", "apps"]))
    assert got == [False, False]  # the runner then passes --create-namespace to helm
    assert kube.calls == [("apps", {"name": "apps"})]  # asked once, not once per release
