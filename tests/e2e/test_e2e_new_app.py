"""End to end: one command makes a new application in a copy of the example platform; it validates
clean, deploys to the sandbox healthy, and `app update` after a template change brings the change in
(redeployed, live in the cluster).

The real CLI as a subprocess, a team template as a real tagged git repository (a copy of gripctl's
default template), the platform copy as a real git work tree, helm against the shared sandbox under a
private prefix.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import yaml
from e2e_helpers import E2EPlatform

from gripctl.scaffold.template import PACKAGED_TEMPLATE

GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "test",
    "GIT_AUTHOR_EMAIL": "test@localhost",
    "GIT_COMMITTER_NAME": "test",
    "GIT_COMMITTER_EMAIL": "test@localhost",
}
PDB = """apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ .Release.Name }}
  namespace: {{ .Release.Namespace }}
spec:
  minAvailable: 1
  selector:
    matchLabels:
      {{- include "app.selector" . | nindent 6 }}
"""


class _IndentedDumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, env=GIT_ENV, check=False)
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout


def _commit(cwd: Path, message: str) -> None:
    _git(cwd, "add", "-A")
    _git(cwd, "commit", "--quiet", "--allow-empty", "-m", message)


def test_new_app_validates_deploys_healthy_and_updates_from_its_template(
    webgrip: E2EPlatform, tmp_path: Path
) -> None:
    template = tmp_path / "team-template"
    shutil.copytree(PACKAGED_TEMPLATE, template, ignore=shutil.ignore_patterns("__pycache__"))
    _git(template, "init", "--quiet", "--initial-branch", "main")
    _commit(template, "template")
    _git(template, "tag", "v1.0.0")

    created = webgrip.gripctl(
        "-o",
        "json",
        "new",
        "app",
        "billing",
        "--number",
        "955",
        "--needs",
        "060-grafana-stack",
        "--template",
        str(template),
    )
    assert created.returncode == 0, created
    assert created.json()["release_id"] == "955-billing"
    # Like every release of the copy: a private namespace and Helm name on the shared sandbox.
    data = webgrip.config()
    data["releases"]["955-billing"].update(
        namespace=f"{webgrip.prefix}-billing", name=f"{webgrip.prefix}-billing", timeout="90s"
    )
    # Written with indented sequences, as the repository's .yamllint wants (validate lints gripctl.yaml).
    webgrip.config_path.write_text(yaml.dump(data, Dumper=_IndentedDumper, sort_keys=False))
    (webgrip.root / ".gitignore").write_text(".gripctl/\n")  # the ledger is run state, not source
    _git(webgrip.root, "init", "--quiet", "--initial-branch", "main")
    _commit(webgrip.root, "platform with billing")

    validated = webgrip.gripctl("-o", "json", "validate")
    assert validated.returncode == 0, validated
    report = validated.json()
    assert {"955-billing", "955-billing-secrets"} <= set(report["releases"])
    assert report["summary"]["error"] == 0 and report["summary"]["warning"] == 0, validated

    selection = ("--only", "955-billing", "--include-needs")
    first = webgrip.gripctl("deploy", "-e", "staging", *selection, "--wait-lock", "180")
    assert first.returncode == 0, first
    assert "955-billing: [healthy]" in first.stdout, first
    assert "955-billing-secrets: [healthy]" in first.stdout, first
    status = webgrip.gripctl("-o", "json", "status", "-e", "staging", "--only", "955-billing")
    assert status.returncode == 0, status
    rows = {row["release_id"]: row for row in status.json()}
    assert rows["955-billing"]["health"] == "healthy" and rows["955-billing"]["status"] == "deployed", rows
    namespace = webgrip.namespace("955-billing")
    secret = webgrip.kubectl("get", "secret", "billing", "-n", namespace, "-o", "jsonpath={.data.app-secret}")
    assert secret.returncode == 0 and len(secret.stdout) > 40, secret.stderr
    assert (
        webgrip.kubectl("get", "networkpolicy", f"{webgrip.prefix}-billing", "-n", namespace).returncode == 0
    )

    # The template grows a PodDisruptionBudget; `app update` brings it into the app.
    (template / "[[ charts_dir ]]" / "[[ release_id ]]" / "templates" / "pdb.yaml").write_text(PDB)
    _commit(template, "a PodDisruptionBudget")
    _git(template, "tag", "v1.1.0")
    updated = webgrip.gripctl("-o", "json", "app", "update", "billing")
    assert updated.returncode == 0, updated
    result = updated.json()
    assert (result["from_version"], result["to_version"], result["conflicts"]) == ("v1.0.0", "v1.1.0", [])
    assert (webgrip.root / "ops/helm/955-billing/templates/pdb.yaml").read_text() == PDB
    _commit(webgrip.root, "billing: template v1.1.0")

    second = webgrip.gripctl("deploy", "-e", "staging", "--only", "955-billing", "--wait-lock", "180")
    assert second.returncode == 0, second
    assert "955-billing: [healthy]" in second.stdout, second
    pdb = webgrip.kubectl("get", "pdb", f"{webgrip.prefix}-billing", "-n", namespace, "-o", "json")
    assert pdb.returncode == 0, pdb.stderr
    assert json.loads(pdb.stdout)["spec"]["minAvailable"] == 1
    assert webgrip.helm_history("955-billing")[-1]["status"] == "deployed"
