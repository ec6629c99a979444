"""Helpers of the chaos suite: the real CLI in a subprocess (plain, or killed at an exact point by
killpoint.py), kills from outside when a condition on the ledger or the cluster holds, and the check
that after everything the ledger tells the same story as helm."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from engine_platforms import SynthPlatform
from kubernetes.watch.watch import iter_resp_lines

from gripctl.adapters import helm
from gripctl.adapters.helm import KubeTarget
from gripctl.adapters.kube import Obj
from gripctl.ledger import open_ledger
from gripctl.ledger.store import Ledger
from gripctl.ledger.types import ActionKind, ActionOutcome, RunOutcome
from gripctl.service.deploy import Deployment, DeployRequest, deploy

KILLPOINT = Path(__file__).with_name("killpoint.py")


def ledger_path(sp: SynthPlatform) -> Path:
    return sp.root / ".gripctl" / "ledger.sqlite"


def ledger_of(sp: SynthPlatform) -> Ledger:
    return open_ledger(f"sqlite:///{ledger_path(sp)}")


async def run(sp: SynthPlatform, **kw: object) -> Deployment:
    return await deploy(DeployRequest(root=sp.root, environment=sp.environment, **kw))  # type: ignore[arg-type]


async def history(sp: SynthPlatform, target: KubeTarget, rid: str) -> list[helm.HistoryEntry]:
    return await helm.history(rid.split("-", 1)[1], sp.namespace, target)


async def deployed_version(sp: SynthPlatform, target: KubeTarget, rid: str) -> str:
    manifest = await helm.get_manifest(rid.split("-", 1)[1], sp.namespace, target)
    return manifest.split("registry.local/app:")[1].split('"')[0]


def start_cli(
    sp: SynthPlatform,
    *args: str,
    kill_at: str | None = None,
    when: str = "before",
    group: bool = False,
    stop: bool = False,
    env: dict[str, str] | None = None,
    stdout: int | None = subprocess.DEVNULL,
    stderr: int | None = subprocess.DEVNULL,
) -> subprocess.Popen[bytes]:
    """`gripctl -C ROOT ARGS` (default: `deploy -e ENV`) in its own process group; with `kill_at`, it
    SIGKILLs itself at that function (killpoint.py)."""
    cli = list(args) or ["deploy", "-e", sp.environment]
    if kill_at is None:
        argv = [sys.executable, "-m", "gripctl.cli.app", "-C", str(sp.root), *cli]
    else:
        flags = (["--group"] if group else []) + (["--stop"] if stop else [])
        argv = [sys.executable, str(KILLPOINT), kill_at, when, *flags, "--", "-C", str(sp.root), *cli]
    return subprocess.Popen(
        argv,
        stdout=stdout,
        stderr=stderr,
        env={**os.environ, **(env or {})},
        start_new_session=True,
    )


def killed_at(proc: subprocess.Popen[bytes], timeout: float = 180) -> None:
    """Wait for a killpoint run to die by its own SIGKILL (and fail if it ended any other way)."""
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        pytest.fail("the kill point was never reached")
    assert code == -signal.SIGKILL, f"gripctl ended with exit {code} before its kill point"


def ledger_when_exists(sp: SynthPlatform) -> Ledger | None:
    return ledger_of(sp) if ledger_path(sp).exists() else None


async def kill_when(
    proc: subprocess.Popen[bytes],
    sp: SynthPlatform,
    ready: Callable[[Ledger], bool],
    *,
    group: bool = False,
    timeout: float = 120,
    stop_only: bool = False,
) -> None:
    """SIGKILL gripctl (with `group`, the helm it runs too) once `ready(ledger)` holds; with `stop_only`,
    SIGSTOP its process group instead (SIGCONT continues it)."""
    led = ledger_when_exists(sp)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"gripctl ended (exit {proc.returncode}) before the kill point")
        if led is None:
            led = ledger_when_exists(sp)
        elif ready(led):
            if stop_only:
                os.killpg(proc.pid, signal.SIGSTOP)
                return
            if group:
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            return
        await asyncio.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    pytest.fail("the kill point was never reached")


def gripctl(sp: SynthPlatform, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gripctl.cli.app", "-C", str(sp.root), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


# -- conditions on the newest run --------------------------------------------------------------------


def _newest(led: Ledger, kind: str | None = None) -> object | None:
    for r in led.runs(limit=5):
        if kind is None or r.kind.value == kind:
            return led.run(r.id)
    return None


def events(led: Ledger, kind: str | None = None) -> list[tuple[str | None, str, str]]:
    record = _newest(led, kind)
    if record is None:
        return []
    return [(e.release_id, e.kind, f"{e.message} {json.dumps(e.data)}") for e in record.events]  # type: ignore[attr-defined]


def phase_seen(rid: str, phase: str) -> Callable[[Ledger], bool]:
    return lambda led: any(r == rid and f'"phase": "{phase}"' in d for r, _k, d in events(led))


def action_running(
    rid: str, kind: ActionKind | None = None, run_kind: str | None = None
) -> Callable[[Ledger], bool]:
    def check(led: Ledger) -> bool:
        record = _newest(led, run_kind)
        return bool(
            record
            and any(
                a.release_id == rid
                and a.outcome is ActionOutcome.running
                and (kind is None or a.action is kind)
                for a in record.actions  # type: ignore[attr-defined]
            )
        )

    return check


# -- the ledger against helm ---------------------------------------------------------------------------


async def assert_ledger_matches_helm(sp: SynthPlatform, target: KubeTarget, ids: Sequence[str]) -> None:
    """After a chaos case is over: no run or action is left open; helm left no release half-done
    (`pending-*`) and the ledger names the run behind every release's current revision; and the
    ledger's last word on each release, when it is a success, is what helm shows (the revision it
    made, or nothing after an uninstall)."""
    led = ledger_of(sp)
    runs = [led.run(r.id) for r in led.runs(sp.environment, limit=100)]
    open_runs = [r.id for r in runs if r is not None and r.outcome is RunOutcome.running]
    assert not open_runs, f"runs left running: {open_runs}"
    actions = sorted((a for r in runs if r is not None for a in r.actions), key=lambda a: a.id)
    still = [(a.run_id, a.release_id, a.action.value) for a in actions if a.outcome in _OPEN]
    assert not still, f"actions left open: {still}"
    for rid in ids:
        entries = await history(sp, target, rid)
        mine = [a for a in actions if a.release_id == rid]
        told = [(a.run_id, a.action.value, a.outcome.value, a.to_revision) for a in mine]
        last = mine[-1] if mine else None
        gone = last is not None and (
            last.action is ActionKind.uninstall
            or (last.action is ActionKind.unlock and last.to_revision is None)
        )
        if not entries:
            assert (
                last is None
                or (gone and last.outcome is ActionOutcome.succeeded)
                or last.outcome
                in (
                    ActionOutcome.failed,
                    ActionOutcome.interrupted,
                )
            ), f"{rid}: helm has no release; the ledger says {told}"
            continue
        latest = max(entries, key=lambda e: e.revision)
        assert latest.status == "deployed", (rid, entries)
        assert any(a.to_revision == latest.revision for a in mine), (
            f"{rid}: helm is at revision {latest.revision} ({latest.description!r}); no ledger action "
            f"names it: {told}"
        )
        if last is not None and last.outcome is ActionOutcome.succeeded:
            assert not gone, f"{rid}: the ledger says uninstalled, helm has {entries}"
            assert last.to_revision == latest.revision, f"{rid}: helm at {latest.revision}, ledger {told}"


_OPEN = (ActionOutcome.running, ActionOutcome.pending)


# -- the API server's record of changes ------------------------------------------------------------------


class MutationWatch:
    """Kubernetes watches, opened before a test acts, on everything a deploy into `namespace` would
    write: helm's release Secrets (owner=helm), the charts' Deployments, Services and Pods and their
    ReplicaSets, the namespace object itself, and the environment's Lease. `mutations()` is every
    ADDED/MODIFIED/DELETED event the API server sent since `start()`."""

    def __init__(self, target: KubeTarget, namespace: str, environment: str) -> None:
        from gripctl.adapters.kube import Kube
        from gripctl.engine.locks import LEASE_NAMESPACE

        self.kube = Kube(target)
        self.streams: list[tuple[str, str | None, str | None, str | None]] = [
            ("Secret", namespace, "owner=helm", None),
            ("Deployment", namespace, None, None),
            ("ReplicaSet", namespace, None, None),
            ("Service", namespace, None, None),
            ("Pod", namespace, None, None),
            ("Namespace", None, None, f"metadata.name={namespace}"),
            ("Lease", LEASE_NAMESPACE, None, f"metadata.name=gripctl-{environment}"),
        ]
        self.seen: list[str] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._opened = threading.Semaphore(0)

    def start(self) -> None:
        for stream in self.streams:
            t = threading.Thread(target=self._watch, args=stream, daemon=True)
            t.start()
            self._threads.append(t)
        for _ in self.streams:  # every watch is open before the test acts
            assert self._opened.acquire(timeout=60), "a watch did not open within 60 s"

    def _watch(self, kind: str, ns: str | None, labels: str | None, fields: str | None) -> None:
        from gripctl.adapters.kube import Gone

        _, rv = self.kube.list_objects(kind, ns, label_selector=labels, field_selector=fields)
        opened = False
        while not self._stop.is_set():
            query_ok = True
            try:
                for etype, obj in self._stream(kind, ns, rv, labels, fields):
                    if not opened:
                        opened = True
                        self._opened.release()
                    if etype in ("ADDED", "MODIFIED", "DELETED"):
                        meta = obj.get("metadata") or {}
                        self.seen.append(f"{etype} {kind} {meta.get('namespace', '')}/{meta.get('name')}")
                    rv = str((obj.get("metadata") or {}).get("resourceVersion") or rv)
            except Gone:  # cannot resume: say so rather than prove nothing
                self.seen.append(f"GONE {kind}: the watch lost its place")
                query_ok = False
            if not opened:
                opened = True
                self._opened.release()
            if not query_ok:
                return

    def _stream(
        self, kind: str, ns: str | None, rv: str, labels: str | None, fields: str | None
    ) -> Iterator[tuple[str, Obj]]:
        """One watch request (2 s, bookmarks on) with selectors, yielding a BOOKMARK first to say open."""
        from gripctl.adapters.kube import _path

        query = [
            ("watch", "1"),
            ("resourceVersion", rv),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", "2"),
        ]
        if labels:
            query.append(("labelSelector", labels))
        if fields:
            query.append(("fieldSelector", fields))
        resp = self.kube._request("GET", _path(kind, ns), query=query, timeout=20)
        yield "OPEN", {}
        try:
            for line in iter_resp_lines(resp):
                event = json.loads(line)
                if event.get("type") == "ERROR":
                    from gripctl.adapters.kube import Gone

                    if (event.get("object") or {}).get("code") == 410:
                        raise Gone("too old")
                    self.seen.append(f"ERROR {kind}: {event.get('object')}")
                    continue
                yield str(event.get("type")), event.get("object") or {}
        finally:
            resp.close()
            resp.release_conn()

    def mutations(self) -> list[str]:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=30)
        return list(self.seen)


def deploy_cli(sp: SynthPlatform) -> subprocess.Popen[str]:
    """`gripctl deploy` of `sp` as a separate CLI process, its output captured."""
    return subprocess.Popen(
        [sys.executable, "-m", "gripctl.cli.app", "-C", str(sp.root), "deploy", "-e", sp.environment],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def when(proc: subprocess.Popen[str], sp: SynthPlatform, ready: Callable[[Ledger], bool]) -> None:
    """Wait until `ready` holds for the run `proc` started (a newer run than any before it)."""
    led = ledger_when_exists(sp)
    before = led.runs(limit=1)[0].id if led is not None and led.runs(limit=1) else 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the deploy ended (exit {proc.returncode}) too early"
        led = ledger_when_exists(sp)
        newest = led.runs(limit=1) if led is not None else []
        if led is not None and newest and newest[0].id > before and ready(led):
            return
        await asyncio.sleep(0.02)
    pytest.fail("the moment for the fault never came")
