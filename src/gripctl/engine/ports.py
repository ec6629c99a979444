"""The engine's two seams to the world: helm (releases) and the cluster (namespaces, health).

Actions only ever talk to a `HelmPort` and a `ClusterPort`. The real ones below wrap the helm binary
and the Kubernetes API; tests of the runner's decisions pass in-memory fakes, so ordering, fail-fast,
remediation and recovery choices are checked in milliseconds, and the cluster tests check the real
ports.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

from gripctl.adapters import helm, helmd
from gripctl.adapters.helm import HistoryEntry, KubeTarget, Values
from gripctl.adapters.kube import Kube
from gripctl.adapters.retry import Backoff, helm_changed_nothing, helm_transient, retry_async, unreachable
from gripctl.engine.signals import PrometheusWatch
from gripctl.engine.verify import ClusterView, VerifyResult, verify_release
from gripctl.errors import ToolError
from gripctl.model.types import HttpCheck, Release

T = TypeVar("T")
PhaseCallback = Callable[[str, str], None]  # (phase, message): progress while verifying


@dataclass(frozen=True)
class Applied:
    """What `helm upgrade --install` reported: the revision it made and the manifest it applied."""

    revision: int | None
    manifest: str


class HelmPort(Protocol):
    """Helm operations on one environment's cluster. Failures raise `ToolError`."""

    async def upgrade_install(
        self, release: Release, chart: Path, values: Values, *, create_namespace: bool, description: str
    ) -> Applied: ...

    async def rollback(self, release: Release, revision: int, *, description: str | None = None) -> None: ...

    async def uninstall(self, release: Release) -> None: ...

    async def history(self, release: Release) -> list[HistoryEntry]: ...

    async def manifest(self, release: Release, revision: int) -> str: ...


class ClusterPort(Protocol):
    """What the engine asks of the cluster itself."""

    async def ensure_namespace(self, namespace: str) -> bool:
        """Create the namespace if missing; False when that is not possible (helm then creates it)."""
        ...

    async def verify(
        self,
        manifest: str,
        namespace: str,
        *,
        timeout_seconds: float,
        monitor_seconds: float,
        http_checks: tuple[HttpCheck, ...],
        signals: PrometheusWatch | None,
        on_phase: PhaseCallback,
    ) -> VerifyResult: ...


class HelmCLI:
    """`HelmPort` over the pinned `helm` binary (upgrades and reads through gripctl-helmd when installed,
    adapters/helmd.py).

    While the API server is unreachable (adapters/retry.py), a call is tried again with backoff for up
    to the release's timeout: a read always, a change only when helm stopped at its reachability check
    (it changed nothing). A change cut off half-way is for the action to judge (`_Apply`)."""

    def __init__(self, target: KubeTarget, server: str = "") -> None:
        self.target, self.server = target, server

    async def _riding(self, release: Release, call: Callable[[], Awaitable[T]], *, read: bool) -> T:
        def again(exc: BaseException) -> bool:
            if not isinstance(exc, ToolError):
                return False
            return helm_transient(exc.message) if read else helm_changed_nothing(exc.message)

        started = time.monotonic()
        try:
            return await retry_async(call, Backoff(release.timeout_seconds), again)
        except ToolError as exc:
            if not again(exc):
                raise
            gone = unreachable(
                self.server or "(the kubeconfig's server)",
                self.target.context,
                exc.message.strip().splitlines()[-1][:300],
                time.monotonic() - started,
            )
            raise ToolError(f"release {release.id}: {gone.message}", hint=gone.hint) from None

    async def upgrade_install(
        self, release: Release, chart: Path, values: Values, *, create_namespace: bool, description: str
    ) -> Applied:
        record = await self._riding(
            release,
            lambda: helmd.upgrade_install_release(
                release.name,
                chart,
                release.namespace,
                values,
                self.target,
                timeout_seconds=release.timeout_seconds,
                create_namespace=create_namespace,
                description=description,
            ),
            read=False,
        )
        return Applied(int(record.get("version") or 0) or None, str(record.get("manifest") or ""))

    async def rollback(self, release: Release, revision: int, *, description: str | None = None) -> None:
        await self._riding(
            release,
            lambda: helm.rollback(
                release.name,
                release.namespace,
                self.target,
                revision=revision,
                timeout_seconds=release.timeout_seconds,
                description=description,
            ),
            read=False,
        )

    async def uninstall(self, release: Release) -> None:
        await self._riding(
            release,
            lambda: helm.uninstall(
                release.name, release.namespace, self.target, timeout_seconds=release.timeout_seconds
            ),
            read=False,
        )

    async def history(self, release: Release) -> list[HistoryEntry]:
        return await self._riding(
            release,
            lambda: helmd.history(release.name, release.namespace, self.target, max_entries=50),
            read=True,
        )

    async def manifest(self, release: Release, revision: int) -> str:
        return await self._riding(
            release,
            lambda: helmd.get_manifest(release.name, release.namespace, self.target, revision=revision),
            read=True,
        )


class LiveCluster:
    """`ClusterPort` over the Kubernetes API: namespaces created once per run, health by watching."""

    def __init__(self, kube: Kube, view: ClusterView) -> None:
        self.kube, self.view = kube, view
        self._namespaces: dict[str, asyncio.Future[bool]] = {}

    async def ensure_namespace(self, namespace: str) -> bool:
        # helm's --create-namespace validates that one object against the cluster's OpenAPI document,
        # ~50 ms of CPU per install; creating it here once per run is cheaper. Concurrent releases in
        # one namespace share one attempt.
        if namespace not in self._namespaces:
            self._namespaces[namespace] = asyncio.ensure_future(asyncio.to_thread(self._create, namespace))
        return await self._namespaces[namespace]

    def _create(self, namespace: str) -> bool:
        try:
            self.kube.ensure_namespace(namespace, labels={"name": namespace})
        except Exception:  # no right to read or create namespaces: helm's flag is the fallback
            return False
        return True

    async def verify(
        self,
        manifest: str,
        namespace: str,
        *,
        timeout_seconds: float,
        monitor_seconds: float,
        http_checks: tuple[HttpCheck, ...],
        signals: PrometheusWatch | None,
        on_phase: PhaseCallback,
    ) -> VerifyResult:
        return await verify_release(
            self.kube,
            self.view,
            manifest,
            namespace,
            timeout_seconds=timeout_seconds,
            monitor_seconds=monitor_seconds,
            http_checks=http_checks,
            signals=signals,
            on_phase=on_phase,
        )
