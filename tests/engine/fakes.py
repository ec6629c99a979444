"""In-memory stand-ins for the engine's two seams (engine/ports.py), for fast tests of its decisions.

The cluster tests (test_deploy_cluster.py and the e2e suite) run the real ports against the sandbox;
these fakes exist so that ordering, fail-fast, remediation and recovery choices are also checked in
milliseconds and in cases a cluster makes slow or flaky to stage (a rollback that itself fails, a
helm that dies between two calls). They keep helm's release bookkeeping: revisions, statuses, the
manifest of each revision.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from gripctl.adapters.helm import HistoryEntry, Values
from gripctl.engine.ports import Applied, PhaseCallback
from gripctl.engine.verify import VerifyResult
from gripctl.errors import ToolError
from gripctl.model.types import HttpCheck, Release


@dataclass
class Revision:
    number: int
    status: str
    manifest: str
    description: str = ""


@dataclass
class FakeHelm:
    """Releases by name. `versions[name]` is what the next upgrade installs (its manifest says it)."""

    releases: dict[str, list[Revision]] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    fail_upgrade: dict[str, tuple[str, bool]] = field(default_factory=dict)  # name -> (error, made revision)
    fail_rollback: dict[str, str] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)  # (operation, release name), in order
    delay: float = 0.0  # seconds each mutation takes, to see concurrency
    running: int = 0
    max_running: int = 0

    def seed(self, name: str, *statuses_and_versions: tuple[str, str]) -> None:
        """Give a release a history: (status, version) per revision, oldest first."""
        self.releases[name] = [
            Revision(i, status, f"version: {version}")
            for i, (status, version) in enumerate(statuses_and_versions, 1)
        ]

    def version(self, name: str) -> str | None:
        revs = self.releases.get(name)
        return revs[-1].manifest.removeprefix("version: ") if revs else None

    async def _mutate(self, op: str, name: str) -> None:
        self.calls.append((op, name))
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        try:
            await asyncio.sleep(self.delay)
        finally:
            self.running -= 1

    def _add(self, name: str, status: str, manifest: str, description: str = "") -> Revision:
        revs = self.releases.setdefault(name, [])
        for r in revs:
            if r.status == "deployed":
                r.status = "superseded"
        rev = Revision(len(revs) + 1, status, manifest, description)
        revs.append(rev)
        return rev

    async def upgrade_install(
        self, release: Release, chart: Path, values: Values, *, create_namespace: bool, description: str
    ) -> Applied:
        await self._mutate("upgrade", release.name)
        if release.name in self.fail_upgrade:
            error, made = self.fail_upgrade[release.name]
            if made:
                version = self.versions.get(release.name, "v?")
                self._add(release.name, "failed", f"version: {version}", description)
            raise ToolError(error)
        version = self.versions.get(release.name, "v1")
        rev = self._add(release.name, "deployed", f"version: {version}", description)
        return Applied(rev.number, rev.manifest)

    async def rollback(self, release: Release, revision: int, *, description: str | None = None) -> None:
        await self._mutate("rollback", release.name)
        if release.name in self.fail_rollback:
            raise ToolError(self.fail_rollback[release.name])
        source = next(r for r in self.releases[release.name] if r.number == revision)
        self._add(release.name, "deployed", source.manifest, description or "")

    async def uninstall(self, release: Release) -> None:
        await self._mutate("uninstall", release.name)
        self.releases.pop(release.name, None)

    async def history(self, release: Release) -> list[HistoryEntry]:
        return [
            HistoryEntry(
                r.number, r.status, f"{release.name}-1.0.0", "", "2026-01-01T00:00:00Z", r.description
            )
            for r in self.releases.get(release.name, [])
        ]

    async def manifest(self, release: Release, revision: int) -> str:
        return next(r.manifest for r in self.releases[release.name] if r.number == revision)


@dataclass
class FakeCluster:
    """Verification by a rule on the manifest: `unhealthy` versions fail with a pod reason."""

    unhealthy: set[str] = field(default_factory=set)  # versions that never become healthy
    verified: list[str] = field(default_factory=list)  # manifests verified, in order
    on_verify: Callable[[str], None] | None = None

    async def ensure_namespace(self, namespace: str) -> bool:
        return True

    async def verify(
        self,
        manifest: str,
        namespace: str,
        *,
        timeout_seconds: float,
        monitor_seconds: float,
        http_checks: tuple[HttpCheck, ...],
        signals: object,
        on_phase: PhaseCallback,
    ) -> VerifyResult:
        self.verified.append(manifest)
        if self.on_verify is not None:
            self.on_verify(manifest)
        await asyncio.sleep(0)
        version = manifest.removeprefix("version: ")
        if version in self.unhealthy:
            return VerifyResult(False, f"pod app-{version}: container app CrashLoopBackOff", 0.01, 1.0)
        if monitor_seconds:
            on_phase("monitoring", f"watching for {monitor_seconds:.0f}s")
        return VerifyResult(True, "", 0.01)
