"""`gripctl doctor`: one line per check, each failure with its fix, exit 1 when anything fails, and
nothing created or changed. The ready case runs against the sandbox (tests/e2e/test_e2e_doctor.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from gripctl.adapters.toolchain import find_tool

WEBGRIP = Path(__file__).resolve().parents[2] / "examples" / "webgrip"
UNREACHABLE_KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters: [{name: gone, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: gone, user: {token: nothing}}]
contexts: [{name: gripctl-sandbox, context: {cluster: gone, user: gone}}]
current-context: gripctl-sandbox
"""


def doctor(root: Path, tools: Path, **env: str) -> tuple[int, dict[str, dict[str, object]], str]:
    done = subprocess.run(
        [sys.executable, "-m", "gripctl.cli.app", "-C", str(root), "doctor", "-o", "json"],
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "GRIPCTL_TOOLCHAIN_BIN": str(tools),
            "KUBECONFIG": str(root / "kubeconfig"),
            **env,
        },
        timeout=120,
    )
    report = json.loads(done.stdout)
    return done.returncode, {c["name"]: c for c in report["checks"]}, done.stderr


def _platform(tmp_path: Path) -> Path:
    root = tmp_path / "webgrip"
    shutil.copytree(WEBGRIP, root, ignore=shutil.ignore_patterns(".gripctl"))
    (root / "kubeconfig").write_text(UNREACHABLE_KUBECONFIG)
    return root


def _tools(tmp_path: Path, helm_version: str | None = None) -> Path:
    """The pinned tools, with `helm` optionally replaced by a stand-in that reports another version.

    A stand-in, not a real helm 3: building helm 3 from source here would add minutes to every test
    run, and what is checked is only how doctor reads and judges the version helm prints.
    """
    tools = tmp_path / "bin"
    tools.mkdir()
    for name in ("helm", "sops", "age", "kubectl"):
        (tools / name).symlink_to(find_tool(name))
    if helm_version is not None:
        (tools / "helm").unlink()
        (tools / "helm").write_text(f"#!/bin/sh\necho {helm_version}\n")
        (tools / "helm").chmod(0o755)
    return tools


def test_a_helm_3_an_unreachable_cluster_and_no_age_key_each_fail_with_the_fix(tmp_path: Path) -> None:
    root = _platform(tmp_path)
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    code, checks, _ = doctor(
        root, _tools(tmp_path, "v3.15.4"), SOPS_AGE_KEY_FILE=str(tmp_path / "none"), HOME=str(tmp_path)
    )
    assert code == 1
    helm = checks["helm"]
    assert not helm["ok"] and "3.15.4" in str(helm["detail"]) and "4.x" in str(helm["detail"]), helm
    assert "make setup" in str(helm["fix"])
    for env in ("staging", "production"):
        cluster = checks[f"cluster of {env}"]
        assert not cluster["ok"] and "gripctl-sandbox" in str(cluster["detail"]), cluster
    key = checks["age key"]
    assert not key["ok"] and "values.sops.yaml" in str(key["detail"]) and key["fix"], key
    assert checks["sops"]["ok"] and checks["age"]["ok"] and checks["ledger"]["ok"]
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before  # nothing created (no ledger)


def test_the_text_report_is_one_line_per_check(tmp_path: Path) -> None:
    root = _platform(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "gripctl.cli.app", "-C", str(root), "doctor", "-e", "staging"],
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "GRIPCTL_TOOLCHAIN_BIN": str(_tools(tmp_path)),
            "KUBECONFIG": str(root / "kubeconfig"),
            "SOPS_AGE_KEY_FILE": str(root / "keys" / "test-only.agekey"),
            "COLUMNS": "200",
        },
        timeout=120,
    )
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert [line.split()[0] for line in lines[:4]] == ["ok", "ok", "ok", "ok"], done.stdout  # the tools
    assert any(line.startswith("FAIL cluster of staging") for line in lines), done.stdout
    assert any(line.strip().startswith("fix:") for line in lines)
    assert "ok   age key: decrypts all 3 secrets file(s)" in done.stdout
    assert lines[-1] == "not ready: fix the checks marked FAIL"


def test_outside_a_platform_it_says_where_to_run(tmp_path: Path) -> None:
    code, checks, _ = doctor(tmp_path, _tools(tmp_path))
    assert code == 1 and not checks["platform"]["ok"] and "-C PATH" in str(checks["platform"]["fix"])
