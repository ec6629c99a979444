"""`gripctl plan` as a user runs it: exit codes 0 (no changes), 2 (changes), 1 (error), --out, JSON.

Runs the real entry point in a subprocess; the 0/2 cases use the sandbox cluster (marker `cluster`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gripctl.plan import plan_from_json

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "observe"))
from observe_helpers import CHART, write_files  # noqa: E402


def gripctl(root: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gripctl.cli.app", "-C", str(root), *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


def write_repo(root: Path, *, context: str, kubeconfig: Path, namespace: str, replicas: int = 1) -> Path:
    chart = {k: v for k, v in CHART.items() if k != "templates/hook.yaml"}
    write_files(root / "ops" / "helm" / "010-web", chart)
    write_files(
        root,
        {
            "gripctl.yaml": f"""
                apiVersion: gripctl/v1
                releases:
                  010-web:
                    namespace: {namespace}
                environments:
                  test:
                    context: {context}
                    kubeconfig: {kubeconfig}
                    values: [envs/test/values.yaml]
            """,
            "envs/test/values.yaml": f"replicas: {replicas}\n",
        },
    )
    return root


def test_unknown_context_exits_1_and_writes_nothing(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        textwrap.dedent("""
            apiVersion: v1
            kind: Config
            clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
            users: [{name: u, user: {token: t}}]
            contexts: [{name: other, context: {cluster: c, user: u}}]
            current-context: other
        """)
    )
    root = write_repo(tmp_path / "repo", context="nowhere", kubeconfig=kubeconfig, namespace="web")
    out = tmp_path / "plan.json"
    result = gripctl(root, "plan", "-e", "test", "--out", str(out))
    assert result.returncode == 1, result.stderr
    assert "kubeconfig context 'nowhere' not found" in result.stderr
    assert "kubectl config get-contexts" in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists() and not (root / ".gripctl").exists()


def test_broken_input_exits_1_not_2(tmp_path: Path) -> None:
    root = write_repo(tmp_path / "repo", context="x", kubeconfig=tmp_path / "none", namespace="web")
    (root / "gripctl.yaml").write_text("apiVersion: gripctl/v1\nreleases: [oops\n")
    result = gripctl(root, "plan", "-e", "test")
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert "gripctl.yaml" in result.stderr


@pytest.mark.cluster
def test_exit_codes_out_file_json_and_ledger_against_the_sandbox(
    tmp_path: Path, sandbox: object, namespace: str
) -> None:
    from gripctl.ledger import open_ledger

    context, kubeconfig = sandbox.context, sandbox.kubeconfig  # type: ignore[attr-defined]
    root = write_repo(tmp_path / "repo", context=context, kubeconfig=kubeconfig, namespace=namespace)
    db = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    out = tmp_path / "plan.json"

    # not installed: changes -> 2, the plan file and the ledger both get it
    first = gripctl(root, "plan", "-e", "test", "--out", str(out), env={"GRIPCTL_DATABASE_URL": db})
    assert first.returncode == 2, first.stderr
    lines = first.stdout.splitlines()
    assert lines[0] == f"environment test ({context}): 1 of 1 releases selected" and lines[1] == "  010-web"
    assert any(line.startswith("+ 010-web install") and "not installed" in line for line in lines)
    assert f"    + apps/Deployment {namespace}/web" in lines
    assert "\x1b[" not in first.stdout  # no colour codes when stdout is not a terminal
    saved = plan_from_json(out.read_text())
    assert saved.get("010-web").action.value == "install" and saved.has_changes
    record = open_ledger(db).get_plan(saved.id)
    assert record is not None and record.digest == saved.digest

    # install it with helm as the engine would, then plan again: nothing to do -> 0
    chart = root / "ops/helm/010-web"
    install = subprocess.run(
        ["helm", "upgrade", "--install", "web", str(chart), "-n", namespace, "--kube-context", context,
         "--kubeconfig", str(kubeconfig), "--values", str(root / "envs/test/values.yaml")],
        capture_output=True, text=True, check=False, env={**os.environ},
    )  # fmt: skip
    assert install.returncode == 0, install.stderr
    second = gripctl(root, "plan", "-e", "test")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "0 to install, 0 to upgrade, 0 to unlock, 1 unchanged" in second.stdout
    assert "010-web" not in second.stdout.split("\n", 2)[2]  # unchanged releases hidden by default
    shown = gripctl(root, "plan", "-e", "test", "--show-unchanged")
    assert shown.returncode == 0 and "= 010-web noop" in shown.stdout

    # a values change -> 2 with the diff; --output json is one document, no colour
    (root / "envs/test/values.yaml").write_text("replicas: 4\n")
    third = gripctl(root, "--output", "json", "plan", "-e", "test")
    assert third.returncode == 2, third.stderr
    doc = json.loads(third.stdout)
    [release] = doc["releases"]
    assert release["action"] == "upgrade" and release["reason"].startswith("values changed: replicas")
    [change] = release["changes"]
    assert "-    replicas: 1" in change["diff"] or "-  replicas: 1" in change["diff"]
    assert doc["id"] == doc["digest"][:12] and doc["id"] != saved.id
