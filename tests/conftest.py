"""Shared pytest fixtures: the sandbox cluster and handles to it.

- `sandbox` (session): the running sandbox, started when needed. A session that started it stops it at
  the end, unless another live session still uses it or GRIPCTL_SANDBOX_KEEP=1 (handy while iterating).
- `production_sandbox` (session): a second cluster beside it (`gripctl sandbox up --name production`, the
  example's production context), for tests of two environments that are really apart; same rules.
- `kube_target` (session): a helm KubeTarget for the sandbox.
- `kube_api` (session): a configured kubernetes.client.ApiClient.
- `namespace` (function): a fresh namespace, ready for pods (its `default` ServiceAccount exists),
  deleted after the test.

Every test that uses `sandbox` or `production_sandbox`, directly or through the others, is marked `cluster`.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator

import pytest
from kubernetes import client as k8s
from kubernetes import watch as k8s_watch

from gripctl.adapters import sandbox as sandbox_adapter
from gripctl.adapters.helm import KubeTarget
from gripctl.adapters.sandbox import SandboxInfo


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if {"sandbox", "production_sandbox"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.cluster)


def _shared_sandbox(name: str | None) -> Iterator[SandboxInfo]:
    """A sandbox shared by concurrent sessions through holder files: the last session to leave stops it."""
    holder = f"pytest-{os.getpid()}"
    was_running = sandbox_adapter.info(name) is not None
    info = sandbox_adapter.up(holder=holder, name=name)
    try:
        yield info
    finally:
        if was_running or os.environ.get("GRIPCTL_SANDBOX_KEEP") == "1":
            sandbox_adapter.release(holder, name)
        else:
            sandbox_adapter.down(holder=holder, name=name)


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxInfo]:
    yield from _shared_sandbox(None)


@pytest.fixture(scope="session")
def production_sandbox() -> Iterator[SandboxInfo]:
    yield from _shared_sandbox("production")


@pytest.fixture(scope="session")
def kube_target(sandbox: SandboxInfo) -> KubeTarget:
    return KubeTarget(context=sandbox.context, kubeconfig=sandbox.kubeconfig)


@pytest.fixture(scope="session")
def kube_api(sandbox: SandboxInfo) -> Iterator[k8s.ApiClient]:
    api = sandbox_adapter.api_client(sandbox)
    try:
        yield api
    finally:
        api.close()


@pytest.fixture
def namespace(kube_api: k8s.ApiClient, request: pytest.FixtureRequest) -> Iterator[str]:
    core = k8s.CoreV1Api(kube_api)
    stem = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    name = f"t-{stem}-{uuid.uuid4().hex[:6]}"
    core.create_namespace(
        k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name, labels={"gripctl.dev/test": "1"}))
    )
    # The ServiceAccount admission plugin rejects pods until the namespace's `default` account exists.
    w = k8s_watch.Watch()
    for _ in w.stream(
        core.list_namespaced_service_account, name, field_selector="metadata.name=default", timeout_seconds=30
    ):
        w.stop()
        break
    else:
        pytest.fail(f"namespace {name}: the `default` ServiceAccount did not appear within 30s")
    try:
        yield name
    finally:
        core.delete_namespace(name, propagation_policy="Background")
