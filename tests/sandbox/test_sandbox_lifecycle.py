"""`gripctl sandbox up|down|status`: idempotent start, clean stop, and failures that say what to do and
leave nothing behind.

Tests that start their own sandbox run it in a temporary GRIPCTL_SANDBOX_HOME with a temporary
KUBECONFIG, so they neither touch the shared sandbox nor the user's kubeconfig.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from gripctl.adapters import sandbox
from gripctl.adapters.sandbox import SandboxInfo
from gripctl.adapters.toolchain import find_tool
from gripctl.errors import ClusterError

USER_KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
- name: prod
  cluster: {server: 'https://prod.example:6443'}
users:
- name: prod
  user: {token: not-a-real-token}
contexts:
- name: prod
  context: {cluster: prod, user: prod}
current-context: prod
"""


def _gripctl(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gripctl.cli.app", *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in cmdline:
                found.append(f"{proc.name}: {cmdline[:200]}")
    return found


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Path]]:
    """A private sandbox home and a user kubeconfig with someone's production context in it."""
    home = tmp_path / "sandbox-home"
    kubeconfig = tmp_path / "kube" / "config"
    kubeconfig.parent.mkdir()
    kubeconfig.write_text(USER_KUBECONFIG)
    monkeypatch.setenv("GRIPCTL_SANDBOX_HOME", str(home))
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    yield {"home": home, "kubeconfig": kubeconfig}
    sandbox.down()  # whatever a failing test left running
    assert _processes_mentioning(str(home)) == []


def _assert_nothing_left(paths: dict[str, Path], *, kubeconfig_rewritten: bool = False) -> None:
    home = paths["home"]
    leftovers = sorted(str(p.relative_to(home)) for p in home.rglob("*")) if home.exists() else []
    assert leftovers in ([], ["lock"]), f"files left behind in {home}: {leftovers}"
    assert _processes_mentioning(str(home)) == []
    if kubeconfig_rewritten:  # up/down rewrite the file (as kubectl does): same content, other layout
        assert yaml.safe_load(paths["kubeconfig"].read_text()) == yaml.safe_load(USER_KUBECONFIG)
    else:
        assert paths["kubeconfig"].read_text() == USER_KUBECONFIG


# ----------------------------------------------------------------------------------------- failures


def test_port_taken_is_reported_and_nothing_is_left(isolated: dict[str, Path]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _gripctl("sandbox", "up", "--port", str(port))

    assert result.returncode == 1
    assert f"port {port} (kube-apiserver) is already in use" in result.stderr
    assert "--port" in result.stderr and "ss -ltnp" in result.stderr
    assert "Traceback" not in result.stderr
    _assert_nothing_left(isolated)


def test_missing_binaries_are_named_and_nothing_is_left(isolated: dict[str, Path], tmp_path: Path) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    minimal_path = "/usr/bin:/bin"
    assert shutil.which("kwokctl", path=minimal_path) is None, (
        "precondition: no kwokctl outside the toolchain"
    )

    result = _gripctl("sandbox", "up", env={"GRIPCTL_TOOLCHAIN_BIN": str(empty), "PATH": minimal_path})

    assert result.returncode == 1
    assert (
        "kwokctl, etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok not found"
        in result.stderr
    )
    assert "make setup" in result.stderr and "GRIPCTL_TOOLCHAIN_BIN" in result.stderr
    _assert_nothing_left(isolated)


@pytest.mark.cluster  # needs the pinned toolchain's binaries
def test_one_missing_binary_is_named_alone(isolated: dict[str, Path], tmp_path: Path) -> None:
    partial = tmp_path / "partial-bin"
    partial.mkdir()
    for tool in ("kwokctl", "etcd", "kube-apiserver", "kube-controller-manager", "kwok"):
        (partial / tool).symlink_to(find_tool(tool))

    result = _gripctl("sandbox", "up", env={"GRIPCTL_TOOLCHAIN_BIN": str(partial), "PATH": "/usr/bin:/bin"})

    assert result.returncode == 1
    assert "cannot start the sandbox: kube-scheduler not found" in result.stderr
    _assert_nothing_left(isolated)


@pytest.mark.cluster  # needs the pinned toolchain's binaries
def test_component_that_dies_at_start_is_reported_and_cleaned_up(
    isolated: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A kube-apiserver that passes kwokctl's version check, then fails like a real one on a bad flag.
    broken = tmp_path / "broken-bin"
    broken.mkdir()
    for tool in ("kwokctl", "etcd", "kube-controller-manager", "kube-scheduler", "kwok"):
        (broken / tool).symlink_to(find_tool(tool))
    script = broken / "kube-apiserver"
    script.write_text(
        '#!/bin/sh\nif [ "$1" = "--version" ]; then echo "Kubernetes v1.36.3"; exit 0; fi\n'
        'echo "E0101 injected: cannot listen" >&2\nexit 1\n'
    )
    script.chmod(0o755)
    monkeypatch.setenv("GRIPCTL_TOOLCHAIN_BIN", str(broken))
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    find_tool.cache_clear()  # find_tool caches paths; this test points it at another folder
    try:
        with pytest.raises(ClusterError) as err:
            sandbox.up(nodes=1)
    finally:
        find_tool.cache_clear()
    assert "kube-apiserver" in str(err.value)
    assert "injected: cannot listen" in str(err.value)
    _assert_nothing_left(isolated)


# --------------------------------------------------------------------------------- a private sandbox


@pytest.mark.cluster  # needs the pinned toolchain's binaries
def test_up_status_down_in_a_private_home(isolated: dict[str, Path]) -> None:
    home, user_kubeconfig = isolated["home"], isolated["kubeconfig"]

    info = sandbox.up(nodes=1)

    assert info.context == "gripctl-sandbox" and info.server.startswith("https://127.0.0.1:")
    assert info.kube_version == "v1.36.3"
    assert _processes_mentioning(str(home))
    merged = yaml.safe_load(user_kubeconfig.read_text())
    assert {c["name"] for c in merged["contexts"]} == {"prod", "gripctl-sandbox"}
    assert merged["current-context"] == "prod", "up must not retarget the user's current context"
    api = k8s_config.new_client_from_config(config_file=str(user_kubeconfig), context="gripctl-sandbox")
    with api:
        assert [n.metadata.name for n in k8s.CoreV1Api(api).list_node().items] == ["sandbox-node-0"]
    apiserver_pid = (sandbox.cluster_dir() / "pids" / "kube-apiserver.pid").read_text()

    again = sandbox.up(nodes=1)

    assert again == info
    assert (sandbox.cluster_dir() / "pids" / "kube-apiserver.pid").read_text() == apiserver_pid
    st = sandbox.status()
    assert st is not None and st.healthy and st.context_present
    assert {c.name: c.status for c in st.components} == {
        "etcd": "Ready",
        "kube-apiserver": "Ready",
        "kube-controller-manager": "Ready",
        "kube-scheduler": "Ready",
        "kwok-controller": "Ready",
    }

    sandbox.down()

    assert sandbox.info() is None and sandbox.status() is None
    _assert_nothing_left(isolated, kubeconfig_rewritten=True)


# ------------------------------------------------------------------------------- the shared sandbox


def test_cli_up_is_idempotent_and_status_reports_json(sandbox: SandboxInfo) -> None:
    up = _gripctl("--output", "json", "sandbox", "up")
    assert up.returncode == 0, up.stderr
    doc = json.loads(up.stdout)
    assert doc["already_running"] is True
    assert doc["server"] == sandbox.server and doc["context"] == "gripctl-sandbox"

    status = _gripctl("--output", "json", "sandbox", "status")
    assert status.returncode == 0, status.stderr
    st = json.loads(status.stdout)
    assert st["running"] is True and st["context_present"] is True
    assert st["kube_version"] == "v1.36.3"
    assert {c["name"] for c in st["components"]} == {
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kwok-controller",
    }
    assert all(c["status"] == "Ready" for c in st["components"])
    assert len(st["nodes"]) >= 3 and all(n["ready"] for n in st["nodes"])

    text = _gripctl("sandbox", "status")
    assert text.returncode == 0
    assert "gripctl-sandbox" in text.stdout and sandbox.server in text.stdout


def test_status_of_a_sandbox_that_is_not_running(isolated: dict[str, Path]) -> None:
    result = _gripctl("--output", "json", "sandbox", "status")
    assert result.returncode == 1
    assert json.loads(result.stdout) == {"running": False}
    assert _gripctl("sandbox", "down").returncode == 0
    _assert_nothing_left(isolated)
