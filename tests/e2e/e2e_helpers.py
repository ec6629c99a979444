"""End-to-end helpers: a private copy of examples/webgrip on the shared sandbox, driven by the real CLI.

The copy is isolated from everybody else on the sandbox: every release gets its own namespace and Helm
name with a random prefix (the charts name their ClusterRoles after the release, so the Helm name must
be unique too), and the selections stay clear of the releases with fixed cluster-wide names (the CRDs
of 010-cert-manager and 040-gha-runners-controller, the ClusterIssuers of 020, the IngressClass of 030).
`gripctl` runs as a subprocess, exactly as an operator runs it; its output is kept for leak checks.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gripctl.adapters.toolchain import find_tool

REPO = Path(__file__).resolve().parents[2]
WEBGRIP = REPO / "examples" / "webgrip"
TEST_KEY = WEBGRIP / "keys" / "test-only.agekey"
# Commands that take the environment's lock. Every copy names its environments staging and production,
# and the lock's Lease is the cluster's (one per environment name, as for two clones of one repository):
# copies deployed by concurrent test workers wait for each other instead of failing with exit 75.
LOCKING = {"deploy", "apply", "rollback", "recover", "unlock"}

# Releases whose objects all live in their own namespace or are named after the Helm release.
SAFE_RELEASES = ("005-tainters", "007-cluster-monitoring", "060-grafana-stack", "950-example-services")
GRAFANA_SUBSET = ("--only", "060-grafana-stack", "--include-needs")
CRASH_LABEL = "gripctl.dev/inject: crash"


def known_test_values() -> list[str]:
    """Every encrypted value of the example, from the table in examples/webgrip/keys/README.md."""
    table = (WEBGRIP / "keys" / "README.md").read_text()
    values = re.findall(r"^\|\s*ops/\S+\s*\|\s*\S+\s*\|\s*`([^`]+)`\s*\|$", table, flags=re.MULTILINE)
    assert len(values) >= 4, "keys/README.md lists fewer known test values than the example has"
    return values


def with_base64(values: list[str]) -> list[str]:
    """The values and their base64 forms (what a rendered or live Secret holds)."""
    return [*values, *(base64.b64encode(v.encode()).decode() for v in values)]


def find_leaks(text: str, needles: list[str]) -> list[str]:
    return [n for n in needles if n in text]


@dataclass
class Run:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    seconds: float = 0.0

    def json(self) -> Any:
        return json.loads(self.stdout)

    def __str__(self) -> str:
        head = f"gripctl {' '.join(self.args)} -> {self.returncode} in {self.seconds:.1f}s"
        return f"{head}\n{self.stdout}\n{self.stderr}"


@dataclass
class E2EPlatform:
    """A copy of examples/webgrip under `root`, pointed at the sandbox, with every release renamed."""

    root: Path
    prefix: str
    kubeconfig: str
    context: str
    env: dict[str, str] = field(default_factory=dict)  # extra environment for gripctl
    runs: list[Run] = field(default_factory=list)  # every gripctl invocation, for leak checks

    # -- the platform file -------------------------------------------------------------------------

    @property
    def config_path(self) -> Path:
        return self.root / "gripctl.yaml"

    def config(self) -> dict[str, Any]:
        data = yaml.safe_load(self.config_path.read_text())
        assert isinstance(data, dict)
        return data

    def write_config(self, data: dict[str, Any]) -> None:
        self.config_path.write_text(yaml.safe_dump(data, sort_keys=False))

    def namespace(self, release_id: str) -> str:
        return str(self.config()["releases"][release_id]["namespace"])

    def helm_name(self, release_id: str) -> str:
        return str(self.config()["releases"][release_id]["name"])

    def namespaces(self) -> list[str]:
        return sorted({r["namespace"] for r in self.config()["releases"].values()})

    # -- running gripctl ---------------------------------------------------------------------------

    def gripctl(self, *args: str, timeout: float = 300) -> Run:
        if LOCKING & set(args) and "--wait-lock" not in args:
            args = (*args, "--wait-lock", "180")
        env = {**os.environ, "SOPS_AGE_KEY_FILE": str(self.root / "keys" / "test-only.agekey"), **self.env}
        env.pop("GRIPCTL_DATABASE_URL", None)  # the copy's own ledger (gripctl.yaml ledger.url)
        env["GRIPCTL_TOOLCHAIN_BIN"] = env.get("GRIPCTL_TOOLCHAIN_BIN") or str(Path(find_tool("helm")).parent)
        env["COLUMNS"] = "200"  # plain, wide lines: no wrapping inside a value we grep for
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "gripctl.cli.app", "-C", str(self.root), *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
            check=False,
        )
        run = Run(args, done.returncode, done.stdout, done.stderr, time.monotonic() - started)
        self.runs.append(run)
        return run

    def output(self) -> str:
        return "\n".join(f"{r.stdout}\n{r.stderr}" for r in self.runs)

    # -- the copy's files --------------------------------------------------------------------------

    def inject(self, release_id: str, template: str, label: str = CRASH_LABEL) -> None:
        """Add a `gripctl.dev/inject` label to every pod template of a chart file (sandbox failure
        injection: docs/sandbox.md)."""
        path = self.root / "ops" / "helm" / release_id / "templates" / template
        text = path.read_text()
        marker = "  template:\n    metadata:\n      labels:\n"
        assert marker in text, f"{path} has no pod template labels to inject into"
        path.write_text(text.replace(marker, f"{marker}        {label}\n"))

    def sops_set(self, secrets_id: str, dotted_key: str, value: str) -> None:
        """Change one encrypted value with the real sops (`sops set` re-encrypts in place)."""
        path = self.root / "ops" / "secrets" / secrets_id / "values.sops.yaml"
        index = "".join(f'["{part}"]' for part in dotted_key.split("."))
        subprocess.run(
            [find_tool("sops"), "set", str(path), index, json.dumps(value)],
            env={**os.environ, "SOPS_AGE_KEY_FILE": str(TEST_KEY)},
            capture_output=True,
            text=True,
            check=True,
            cwd=self.root,
        )

    # -- the ledger --------------------------------------------------------------------------------

    @property
    def ledger_path(self) -> Path:
        return self.root / ".gripctl" / "ledger.sqlite"

    def ledger_rows(self, sql: str, *params: object) -> list[sqlite3.Row]:
        with sqlite3.connect(self.ledger_path) as db:
            db.row_factory = sqlite3.Row
            return list(db.execute(sql, params))

    def ledger_dump(self) -> str:
        with sqlite3.connect(self.ledger_path) as db:
            return "\n".join(db.iterdump())

    # -- the cluster -------------------------------------------------------------------------------

    def helm(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [find_tool("helm"), "--kubeconfig", self.kubeconfig, "--kube-context", self.context, *args],
            capture_output=True,
            text=True,
            check=False,
        )

    def helm_history(self, release_id: str) -> list[dict[str, Any]]:
        done = self.helm(
            "history", self.helm_name(release_id), "-n", self.namespace(release_id), "-o", "json"
        )
        assert done.returncode == 0, done.stderr
        history: list[dict[str, Any]] = json.loads(done.stdout)
        return sorted(history, key=lambda e: int(e["revision"]))

    def kubectl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [find_tool("kubectl"), "--kubeconfig", self.kubeconfig, "--context", self.context, *args],
            capture_output=True,
            text=True,
            check=False,
        )

    def cleanup(self) -> None:
        """Uninstall every Helm release in the copy's namespaces, delete the CRDs they installed (Helm
        keeps CRDs: `helm.sh/resource-policy: keep`), then the namespaces."""
        crds: set[str] = set()
        for ns in self.namespaces():
            listed = self.helm("list", "-n", ns, "-q", "--deployed", "--failed", "--pending", "--superseded")
            assert listed.returncode == 0, listed.stderr
            for name in listed.stdout.split():
                manifest = self.helm("get", "manifest", name, "-n", ns).stdout
                for doc in yaml.safe_load_all(manifest):
                    if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                        crds.add(doc["metadata"]["name"])
                self.helm("uninstall", name, "-n", ns, "--wait", "--timeout", "60s")
        for crd in sorted(crds):
            self.kubectl("delete", "crd", crd, "--ignore-not-found", "--wait=false")
        # Cluster-wide leftovers of a release whose record was lost (its namespace went first): the
        # prefix is this copy's alone, so anything carrying it is ours.
        for kind in ("clusterrolebinding", "clusterrole"):
            names = self.kubectl("get", kind, "-o", "name").stdout.split()
            ours = [n for n in names if n.split("/", 1)[1].startswith(f"{self.prefix}-")]
            if ours:
                self.kubectl("delete", *ours, "--ignore-not-found")
        existing = [ns for ns in self.namespaces() if self.kubectl("get", "ns", ns).returncode == 0]
        if existing:
            self.kubectl("delete", "ns", *existing, "--ignore-not-found", "--wait=false")


def copy_platform(tmp_path: Path, kubeconfig: str, context: str) -> E2EPlatform:
    """examples/webgrip copied to tmp_path/webgrip: every release renamed `e2e<hex>-...` (namespace and
    Helm name), both environments on the sandbox with `monitor: 0s` and short timeouts, and no
    `promote_from`."""
    root = tmp_path / "webgrip"
    # keys/README.md lists the plaintext test values: the copy must not carry them (the no-plaintext
    # watch would find them, and so would a leak check of the repository copy).
    shutil.copytree(WEBGRIP, root, ignore=shutil.ignore_patterns(".gripctl"))
    (root / "keys" / "README.md").unlink()
    prefix = f"e2e{uuid.uuid4().hex[:6]}"
    platform = E2EPlatform(root, prefix, kubeconfig, context)
    data = platform.config()
    releases: dict[str, dict[str, Any]] = data["releases"]
    for folder in sorted((root / "ops" / "helm").iterdir()):
        rid = folder.name
        plain = rid.split("-", 1)[1]
        spec = releases.setdefault(rid, {})
        spec["namespace"] = f"{prefix}-{spec.get('namespace', plain)}"
        spec["name"] = f"{prefix}-{plain}"
        spec["timeout"] = "90s"
    for env in data["environments"].values():
        env.update(context=context, kubeconfig=kubeconfig, monitor="0s")
        # Both environments share one cluster here, and the tests deploy production directly: the
        # promotion rule has its own test on two clusters (test_e2e_promotion.py), which puts it back.
        env.pop("promote_from", None)
    platform.write_config(data)
    return platform
