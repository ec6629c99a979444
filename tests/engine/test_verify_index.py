"""ClusterView's label index: the pods and EndpointSlices a release's verification looks up by label are
exactly those a scan of the namespace finds, in the same order, through adds, changes, deletes and
relists. The informers are real; their watch threads are not started (the events are fed to them as
their threads would feed them on the event loop)."""

from __future__ import annotations

import asyncio
import random
from typing import Any, cast

from gripctl.adapters.kube import Informer, Kube
from gripctl.engine.verify import ClusterView, release_pods, targets_of

Obj = dict[str, Any]


def pod(ns: str, name: str, labels: dict[str, str], uid: str | None = None) -> Obj:
    return {"kind": "Pod", "metadata": {"namespace": ns, "name": name, "uid": uid or f"{ns}/{name}",
                                        "labels": labels}}  # fmt: skip


def scan(view: ClusterView, kind: str, ns: str, selector: dict[str, str]) -> list[Obj]:
    """What verification did before the index: every object of the namespace, matched one by one."""
    objects = view.informers[kind].by_namespace.get(ns, {}).values()
    labels = [(o, (o.get("metadata") or {}).get("labels") or {}) for o in objects]
    return [o for o, lb in labels if selector and all(lb.get(k) == v for k, v in selector.items())]


def make_view(loop: asyncio.AbstractEventLoop) -> ClusterView:
    view = ClusterView(cast(Kube, None))
    for kind in ("Deployment", "Pod", "EndpointSlice"):
        view.informers[kind] = Informer(cast(Kube, None), kind, loop, view._on_change)
    return view


def test_the_index_finds_what_a_scan_finds_through_every_kind_of_change() -> None:
    loop = asyncio.new_event_loop()
    try:
        view = make_view(loop)
        informer = view.informers["Pod"]
        rng = random.Random(14)
        apps = [f"app{i}" for i in range(6)]
        informer._relist([pod("a", f"seed{i}", {"app": rng.choice(apps)}) for i in range(5)])
        for step in range(400):
            ns, name = rng.choice("ab"), f"p{rng.randrange(30)}"
            if rng.random() < 0.2:
                informer._apply("DELETED", pod(ns, name, {}))
            else:
                labels = {"app": rng.choice(apps), "tier": rng.choice(["web", "db"])}
                informer._apply("MODIFIED" if rng.random() < 0.5 else "ADDED", pod(ns, name, labels))
            if step == 200:  # a relist after 410 Gone replaces the store wholesale
                informer._relist(list(informer.store.values())[::2])
            for selector in ({"app": rng.choice(apps)}, {"app": rng.choice(apps), "tier": "web"}, {}):
                for namespace in "ab":
                    assert view.matching("Pod", namespace, selector) == scan(view, "Pod", namespace, selector)
    finally:
        loop.close()


def test_release_pods_and_endpoint_slices_come_from_the_index() -> None:
    loop = asyncio.new_event_loop()
    try:
        view = make_view(loop)
        deployment = {
            "kind": "Deployment",
            "metadata": {"namespace": "shop", "name": "web"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}},
        }
        view.informers["Deployment"]._relist([deployment])
        web = pod("shop", "web-1", {"app": "web", "pod-template-hash": "x"})
        view.informers["Pod"]._relist(
            [web, pod("shop", "db-1", {"app": "db"}), pod("other", "web-1", {"app": "web"})]
        )
        labels = {"kubernetes.io/service-name": "web"}
        slice_ = {
            "kind": "EndpointSlice",
            "metadata": {"namespace": "shop", "name": "web-abc", "labels": labels},
        }
        view.informers["EndpointSlice"]._apply("ADDED", slice_)
        manifest = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n"
        targets = targets_of(manifest + "spec: {selector: {matchLabels: {app: web}}}\n", "shop")
        assert [p["metadata"]["uid"] for p in release_pods(view, targets)] == ["shop/web-1"]
        assert view.endpoint_slices("shop", "web") == [slice_]
        view.informers["EndpointSlice"]._apply("DELETED", slice_)
        assert view.endpoint_slices("shop", "web") == []
    finally:
        loop.close()
