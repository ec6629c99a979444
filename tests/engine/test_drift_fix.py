"""Drift as a record and a repair, end to end through the real CLI on the sandbox: the findings go in
the ledger, a new drift is notified once (not on every check), the `gripctl_drift_objects` gauge shows
it, `gripctl status` shows it next to repository drift, and `gripctl drift --fix` re-applies the
release through a normal deploy that takes back every change made by hand."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from engine_platforms import SynthPlatform, make_platform

from gripctl.adapters.sandbox import SandboxInfo
from gripctl.adapters.toolchain import find_tool
from gripctl.ledger import open_ledger
from receivers import HttpReceiver

pytestmark = pytest.mark.cluster

CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-config
data: {mode: fast}
"""


@pytest.fixture
def platform(
    tmp_path: Path, sandbox: SandboxInfo, namespace: str, http_receiver: HttpReceiver
) -> SynthPlatform:
    root = tmp_path / "repo"
    root.mkdir()
    sp = make_platform(
        root, namespace=namespace, kubeconfig=sandbox.kubeconfig, context=sandbox.context, needs={"010-a": []}
    )
    (root / "ops" / "helm" / "010-a" / "templates" / "config.yaml").write_text(CONFIGMAP)
    config = yaml.safe_load((root / "gripctl.yaml").read_text())
    config["notifications"] = {
        "channels": {
            "hook": {"type": "webhook", "url": "env:DRIFT_HOOK_URL", "secret": "env:DRIFT_HOOK_SECRET"}
        },
        "routes": [{"events": ["drift.*"], "channels": ["hook"]}],
    }
    (root / "gripctl.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return sp


def runner(
    sp: SynthPlatform, sandbox: SandboxInfo, hook: HttpReceiver
) -> Callable[..., subprocess.CompletedProcess[str]]:
    env = {
        **os.environ,
        "DRIFT_HOOK_URL": f"{hook.url}/drift",
        "DRIFT_HOOK_SECRET": "s3cret-hook",
        "COLUMNS": "200",
    }

    def gripctl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "gripctl.cli.app", "-C", str(sp.root), *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )

    return gripctl


def kubectl(sandbox: SandboxInfo, namespace: str, *args: str) -> str:
    done = subprocess.run(
        [find_tool("kubectl"), "--kubeconfig", str(sandbox.kubeconfig), "--context", sandbox.context,
         "-n", namespace, *args],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_drift_is_recorded_notified_once_shown_and_fixed(
    platform: SynthPlatform, sandbox: SandboxInfo, http_receiver: HttpReceiver
) -> None:
    sp, ns = platform, platform.namespace
    gripctl = runner(sp, sandbox, http_receiver)
    assert gripctl("deploy", "-e", sp.environment).returncode == 0
    clean = gripctl("drift", "-e", sp.environment, "-o", "json")
    assert clean.returncode == 0, clean.stdout + clean.stderr

    # An operator at work: scale, a new image, a label removed, a config value changed, a ConfigMap gone.
    kubectl(sandbox, ns, "scale", "deployment/a", "--replicas=3")
    kubectl(sandbox, ns, "set", "image", "deployment/a", "app=registry.local/app:hotfix")
    kubectl(sandbox, ns, "label", "deployment/a", "app-")
    kubectl(sandbox, ns, "patch", "configmap/a-config", "-p", '{"data":{"mode":"slow"}}')
    kubectl(sandbox, ns, "delete", "service/a")

    first = gripctl("drift", "-e", sp.environment, "-o", "json")
    assert first.returncode == 2, first.stderr
    found = json.loads(first.stdout)
    assert found["new"] == ["010-a"]
    (release,) = found["releases"]
    paths = {(o["kind"], f["path"]) for o in release["objects"] for f in o.get("fields", [])}
    expected = {
        ("Deployment", "/spec/replicas"),
        ("Deployment", "/metadata/labels/app"),
        ("Deployment", "/spec/template/spec/containers/0/image"),
        ("ConfigMap", "/data/mode"),
    }
    assert expected <= paths, paths
    assert any(o["kind"] == "Service" and o["state"] == "deleted" for o in release["objects"])

    again = gripctl("drift", "-e", sp.environment, "-o", "json")
    assert again.returncode == 2 and json.loads(again.stdout)["new"] == []  # the same drift: not new
    notified = [r.json() for r in http_receiver.at("/drift")]
    assert [n["kind"] for n in notified] == ["drift.detected"], notified  # once, not per check
    assert "010-a" in notified[0]["title"] and "drift --fix" in notified[0]["text"]

    ledger = open_ledger(f"sqlite:///{sp.root / '.gripctl' / 'ledger.sqlite'}")
    (open_finding,) = ledger.open_drift(sp.environment)
    assert open_finding.release_id == "010-a" and str(open_finding.kind) == "live"
    gauge = gripctl("metrics", "--format", "prometheus")
    line = f'gripctl_drift_objects{{environment="{sp.environment}",release="010-a",kind="live"}} 3'
    assert line in gauge.stdout, gauge.stdout

    status = gripctl("status", "-e", sp.environment, "-o", "json")
    (row,) = json.loads(status.stdout)
    assert (row["drift"], row["live_drift"]) == (False, True), row  # the repository agrees with helm

    fixed = gripctl("drift", "--fix", "-e", sp.environment, "-o", "json")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    # JSON lines: the deploy's events as they happen, then the result document.
    deployment = json.loads(fixed.stdout.splitlines()[-1])["deployment"]
    assert deployment["outcome"] == "succeeded" and deployment["releases"]["010-a"]["phase"] == "healthy"

    live = json.loads(kubectl(sandbox, ns, "get", "deployment/a", "-o", "json"))
    assert live["spec"]["replicas"] == 1 and live["metadata"]["labels"]["app"] == "a"
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.local/app:v1"
    assert kubectl(sandbox, ns, "get", "configmap/a-config", "-o", "jsonpath={.data.mode}") == "fast"
    assert kubectl(sandbox, ns, "get", "service/a", "-o", "name").strip() == "service/a"

    after = gripctl("drift", "-e", sp.environment, "-o", "json")
    assert after.returncode == 0, after.stdout
    assert ledger.open_drift(sp.environment) == []  # resolved by the check that found none
    assert "gripctl_drift_objects{" not in gripctl("metrics", "--format", "prometheus").stdout
    run = ledger.run(ledger.runs()[0].id)
    assert run is not None and run.kind.value == "deploy"
    assert any("re-apply revision 1: live objects drifted" in json.dumps(e.data) for e in run.events)
