"""The real thing, on a private cluster: kube-apiserver killed and restarted, etcd paused.

Killing the API server or pausing etcd of the shared sandbox would break every other test session
on the machine, so these run against a named sandbox of their own (`gripctl sandbox up --name`,
context gripctl-sandbox-NAME), started once per session and stopped at the end. Its components are
processes whose pids kwokctl records; `kwokctl start cluster` starts the ones that are not running
(a killed API server, and the controller manager and scheduler, which exit when an outage costs them
their leader lease) and leaves the others alone. After a restart the cluster's own controllers take
10-60 s to resume (their watches back off): `heal` waits until a Deployment really rolls out and goes
away again, and the releases that must ride an outage through have a timeout that leaves them room.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from chaos_helpers import (
    assert_ledger_matches_helm,
    deploy_cli,
    deployed_version,
    history,
    ledger_of,
    phase_seen,
    when,
)
from engine_platforms import SynthPlatform, make_platform

from gripctl.adapters import sandbox as sandbox_adapter
from gripctl.adapters.helm import KubeTarget
from gripctl.adapters.kube import Kube
from gripctl.adapters.sandbox import SandboxInfo
from gripctl.adapters.toolchain import find_tool
from gripctl.ledger.types import RunOutcome

# control_plane: `make test` runs these after the rest, alone: a restarted control plane resumes its
# controllers in 10-60 s on an idle machine, but took over 170 s beside three busy test workers.
pytestmark = [pytest.mark.cluster, pytest.mark.control_plane]


class ControlPlane:
    """The processes of one named sandbox."""

    def __init__(self, name: str, info: SandboxInfo) -> None:
        self.name, self.info = name, info
        self.pids = sandbox_adapter.cluster_dir(name) / "pids"

    def pid(self, component: str) -> int:
        return int((self.pids / f"{component}.pid").read_text().strip())

    def kill(self, component: str) -> None:
        pid = self.pid(component)
        os.kill(pid, signal.SIGKILL)
        for _ in range(100):
            if not Path(f"/proc/{pid}").exists() or "Z" in _state(pid):
                return
            time.sleep(0.05)

    def pause(self, component: str) -> None:
        os.kill(self.pid(component), signal.SIGSTOP)

    def resume(self, component: str) -> None:
        os.kill(self.pid(component), signal.SIGCONT)

    def heal(self) -> None:
        """Start every component that is not running, and wait until the cluster is ready."""
        env = {
            **os.environ,
            "KWOK_WORKDIR": str(sandbox_adapter.kwok_workdir(self.name)),
            "PATH": f"{Path(find_tool('kube-apiserver')).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        cluster = sandbox_adapter.cluster_name(self.name)
        done = subprocess.run(
            [find_tool("kwokctl"), "--name", cluster, "start", "cluster", "--wait", "120s"],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        kube = Kube(KubeTarget(self.info.context, self.info.kubeconfig), outage_seconds=60)
        deadline = time.monotonic() + 180
        while kube.unready() is not None:
            assert time.monotonic() < deadline, kube.unready()
            time.sleep(0.5)
        self._probe(kube, deadline)

    def _probe(self, kube: Kube, deadline: float) -> None:
        """A Deployment rolled out and deleted again: the controllers, the scheduler and kwok all work."""
        kc = [find_tool("kubectl"), "--kubeconfig", str(self.info.kubeconfig), "--context", self.info.context]
        name = f"heal-probe-{int(time.monotonic() * 1000) % 100000}"
        for args in (
            ["create", "deployment", name, "--image=registry.local/probe:1", "-n", "default"],
            ["rollout", "status", f"deployment/{name}", "-n", "default", "--timeout=170s"],
            ["delete", "deployment", name, "-n", "default", "--wait=true", "--timeout=170s"],
        ):
            done = subprocess.run(kc + args, capture_output=True, text=True, timeout=180, check=False)
            assert done.returncode == 0, (args, done.stderr)
            assert time.monotonic() < deadline, "the private cluster did not come back within 3 minutes"


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "X"


@pytest.fixture(scope="session")
def control_plane() -> Iterator[ControlPlane]:
    # One name for every session: a session killed before its teardown leaves the cluster to the next
    # one (which heals or recreates it) instead of a cluster per dead session.
    name, holder = "chaos", f"pytest-chaos-{os.getpid()}"
    info = sandbox_adapter.up(name=name, holder=holder, nodes=1)
    try:
        yield ControlPlane(name, info)
    finally:
        sandbox_adapter.down(name=name, holder=holder)


@pytest.fixture
def private(tmp_path: Path, control_plane: ControlPlane) -> Iterator[Callable[..., SynthPlatform]]:
    """A synthetic platform on the private cluster, in a fresh namespace there."""
    info = control_plane.info
    kube = Kube(KubeTarget(info.context, info.kubeconfig))
    ns = f"chaos-{tmp_path.name[-20:].lower().strip('-_').replace('_', '-')}-{os.getpid() % 1000}"

    def build(needs: dict[str, list[str]], **kw: object) -> SynthPlatform:
        kube.ensure_namespace(ns)
        root = tmp_path / "repo"
        root.mkdir(exist_ok=True)
        return make_platform(
            root, namespace=ns, kubeconfig=info.kubeconfig, context=info.context, needs=needs, **kw
        )  # type: ignore[arg-type]

    try:
        yield build
    finally:
        control_plane.heal()  # whatever a failed test left stopped
        kube.delete("Namespace", None, ns)


def target(cp: ControlPlane) -> KubeTarget:
    return KubeTarget(cp.info.context, cp.info.kubeconfig)


def deployed(sp: SynthPlatform) -> None:
    done = deploy_cli(sp)
    out, err = done.communicate(timeout=300)
    assert done.returncode == 0, out + err


async def test_kube_apiserver_down_when_the_deploy_starts(
    private: Callable[..., SynthPlatform], control_plane: ControlPlane
) -> None:
    """Tried as a new user would: the API server is down for 5 s as the deploy starts. It fails cleanly
    (is the cluster up?, with the server's URL), leaves nothing pending, and the next deploy completes."""
    sp = private({"010-a": [], "020-b": ["010-a"]})
    control_plane.kill("kube-apiserver")
    started = time.monotonic()
    run = deploy_cli(sp)
    out, err = run.communicate(timeout=120)
    await asyncio.sleep(max(0.0, 5 - (time.monotonic() - started)))
    control_plane.heal()
    assert run.returncode == 1, out + err
    assert "is the cluster up?" in err and control_plane.info.server in err and "Traceback" not in err, err
    for rid in sp.ids:
        assert await history(sp, target(control_plane), rid) == []
    deployed(sp)
    await assert_ledger_matches_helm(sp, target(control_plane), sp.ids)


async def test_kube_apiserver_killed_and_restarted_mid_deploy_is_ridden_through(
    private: Callable[..., SynthPlatform], control_plane: ControlPlane
) -> None:
    # 120 s: the API server is back after 5 s, the cluster's own controllers need up to a minute more.
    sp = private({"010-a": [], "020-b": ["010-a"]}, timeout="120s")
    deployed(sp)
    sp.set_values("010-a", version="v2", inject="slow-ready", readyAfter="3s")
    sp.set_values("020-b", version="v2")
    run = deploy_cli(sp)
    await when(run, sp, phase_seen("010-a", "verifying"))
    control_plane.kill("kube-apiserver")
    await asyncio.sleep(5)
    control_plane.heal()
    out, err = run.communicate(timeout=300)
    assert run.returncode == 0, out + err
    for rid in sp.ids:
        assert await deployed_version(sp, target(control_plane), rid) == "v2"
    await assert_ledger_matches_helm(sp, target(control_plane), sp.ids)


async def test_kube_apiserver_down_longer_than_the_timeout_fails_cleanly(
    private: Callable[..., SynthPlatform], control_plane: ControlPlane
) -> None:
    sp = private({"010-a": [], "020-b": ["010-a"]}, timeout="6s")
    deployed(sp)
    sp.set_values("010-a", version="v2", inject="slow-ready", readyAfter="3s")
    run = deploy_cli(sp)
    await when(run, sp, phase_seen("010-a", "verifying"))
    control_plane.kill("kube-apiserver")
    try:
        out, err = run.communicate(timeout=120)
    finally:
        control_plane.heal()
    assert run.returncode == 1, out + err
    assert "is the cluster up?" in out + err and "Traceback" not in err, out + err
    for rid in sp.ids:
        assert not (await history(sp, target(control_plane), rid))[-1].status.startswith("pending-")
    deployed(sp)
    await assert_ledger_matches_helm(sp, target(control_plane), sp.ids)


async def test_etcd_paused_past_verification_fails_with_the_reason_and_remediates_when_back(
    private: Callable[..., SynthPlatform], control_plane: ControlPlane
) -> None:
    """etcd stopped (SIGSTOP) for 25 s while a release is verified with a 20 s timeout: the release
    fails with the reason (the API server cannot serve: etcd), and its rollback — retried while the
    cluster cannot serve — goes through once etcd is back (and the controllers that lost their
    leases meanwhile are started again)."""
    sp = private({"010-a": []}, timeout="20s")
    deployed(sp)
    sp.set_values("010-a", version="v2", inject="slow-ready", readyAfter="3s")
    run = deploy_cli(sp)
    await when(run, sp, phase_seen("010-a", "verifying"))
    control_plane.pause("etcd")
    try:
        await asyncio.sleep(25)
    finally:
        control_plane.resume("etcd")
    await asyncio.to_thread(control_plane.heal)
    out, err = run.communicate(timeout=300)
    assert run.returncode == 1, out + err
    record = ledger_of(sp).runs(limit=1)[0]
    assert record.outcome is RunOutcome.rolled_back, (record, out, err)
    assert "etcd" in out + err and "is the cluster up?" in out + err, out + err
    assert await deployed_version(sp, target(control_plane), "010-a") == "v1"
    await assert_ledger_matches_helm(sp, target(control_plane), sp.ids)
