"""A second sandbox beside the first (`gripctl sandbox up --name NAME`): its own processes, ports, folder,
holders and context `gripctl-sandbox-NAME`; each one's `status`/`down` leaves the other alone.

Run in a temporary GRIPCTL_SANDBOX_HOME and KUBECONFIG: neither the shared sandboxes nor the user's
kubeconfig are touched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from gripctl.adapters import sandbox


def _gripctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gripctl.cli.app", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and int(proc.name) != os.getpid():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in cmdline:
                found.append(cmdline[:160])
    return found


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "sandbox-home"
    monkeypatch.setenv("GRIPCTL_SANDBOX_HOME", str(home))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "kube" / "config"))
    yield home
    sandbox.down(name="two")  # whatever a failing test left running
    sandbox.down()
    assert _processes_mentioning(str(home)) == []


@pytest.mark.cluster  # needs the pinned toolchain's binaries
def test_two_sandboxes_side_by_side(home: Path, tmp_path: Path) -> None:
    first = sandbox.up(nodes=1)
    second = sandbox.up(nodes=1, name="two", holder="test")

    assert (first.context, second.context) == ("gripctl-sandbox", "gripctl-sandbox-two")
    assert first.server != second.server  # its own API server port (and etcd's, and the others')
    assert second.kubeconfig == home / "named" / "two" / "kubeconfig"
    assert sandbox.named() == ["two"]
    user = yaml.safe_load((tmp_path / "kube" / "config").read_text())
    assert {c["name"] for c in user["contexts"]} == {"gripctl-sandbox", "gripctl-sandbox-two"}
    assert user["current-context"] == "gripctl-sandbox"  # set by the first, left alone by the second
    assert _processes_mentioning(str(home / "named" / "two" / "kwok") + "/")
    assert sandbox.up(nodes=1, name="two") == second  # idempotent, by name

    status = _gripctl("--output", "json", "sandbox", "status", "--name", "two")
    assert status.returncode == 0, status.stderr
    doc = json.loads(status.stdout)
    assert doc["running"] and doc["context"] == "gripctl-sandbox-two" and doc["context_present"]
    assert len(doc["components"]) == 5 and all(c["status"] == "Ready" for c in doc["components"])

    # the holder keeps it: a down by another holder only drops that claim
    sandbox.down(holder="someone-else", name="two")
    assert sandbox.info("two") == second

    down = _gripctl("sandbox", "down", "--name", "two")
    assert down.returncode == 0 and down.stdout.strip() == "sandbox two stopped and removed"
    assert sandbox.info("two") is None and sandbox.info() == first  # the first one runs on
    assert not (home / "named" / "two").exists()  # its folder, kwok workdir and all
    assert _processes_mentioning(str(home / "named" / "two")) == []
    contexts = {c["name"] for c in yaml.safe_load((tmp_path / "kube" / "config").read_text())["contexts"]}
    assert contexts == {"gripctl-sandbox"}

    sandbox.down()
    assert _processes_mentioning(str(home)) == []


def test_a_bad_name_is_refused_before_anything_is_written(home: Path) -> None:
    for bad in ("Production", "two_words", "-x", "a" * 21, "../up"):
        result = _gripctl("sandbox", "up", "--name", bad)
        assert result.returncode == 64, result.stderr
        assert f"invalid sandbox name {bad!r}" in result.stderr
    assert not home.exists()
    result = _gripctl("--output", "json", "sandbox", "status", "--name", "absent")
    assert result.returncode == 1 and json.loads(result.stdout) == {"running": False}
