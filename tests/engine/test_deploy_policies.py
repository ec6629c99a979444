"""`deploy: auto | manual` means something: the automatic entry (`gripctl deploy --auto`, the push
workflow) deploys only `deploy: auto` environments, and refuses the others before touching anything.

These refusals need no cluster: the environments point at an API server that does not answer, so a
deploy that got past the policy stops at the cluster check (the proof that the policy let it through).
The same rule on the sandbox, with a real deploy, is in tests/e2e/test_e2e_promotion.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from engine_platforms import make_platform

from gripctl.errors import ClusterError, PolicyError
from gripctl.service.deploy import DeployRequest, deploy

# An API server that refuses connections at once (port 1): the deploy stops at the cluster check.
UNREACHABLE_KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters: [{name: gone, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]
users: [{name: gone, user: {token: abc}}]
contexts: [{name: gone, context: {cluster: gone, user: gone}}]
current-context: gone
"""


def _platform(tmp_path: Path) -> Path:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(UNREACHABLE_KUBECONFIG)
    root = tmp_path / "repo"
    root.mkdir()
    sp = make_platform(root, namespace="ns", kubeconfig=kubeconfig, context="gone", needs={"010-a": []})
    config = yaml.safe_load((root / "gripctl.yaml").read_text())
    envs = config["environments"]
    spec = envs[sp.environment]
    config["environments"] = {
        "staging": {**spec, "deploy": "auto"},
        "production": {**spec, "deploy": "manual", "promote_from": "staging"},
        "qa": spec,  # no deploy key: manual, the safe default
    }
    (root / "gripctl.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return root


def _cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "GRIPCTL_DATABASE_URL"}
    return subprocess.run(
        [sys.executable, "-m", "gripctl.cli.app", "-C", str(root), *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


@pytest.mark.parametrize("environment", ["production", "qa"])
def test_the_automatic_entry_refuses_a_manual_environment_and_writes_nothing(
    tmp_path: Path, environment: str
) -> None:
    root = _platform(tmp_path)
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    done = _cli(root, "deploy", "--auto", "-e", environment)
    assert done.returncode == 1, done.stderr
    assert (
        f"environment {environment} is `deploy: manual`: the automatic entry (`gripctl deploy --auto`, "
        "the push workflow) does not deploy it; nothing was changed" in done.stderr
    )
    assert f"a person deploys it: `gripctl deploy -e {environment}`" in done.stderr
    assert "gripctl.yaml:" in done.stderr  # where the policy is written
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before  # no ledger, no plan


async def test_the_automatic_entry_passes_an_auto_environment_on_to_the_deploy(tmp_path: Path) -> None:
    root = _platform(tmp_path)
    with pytest.raises(ClusterError):  # past the policy, stopped by the unreachable cluster
        await deploy(DeployRequest(root=root, environment="staging", automatic=True))


async def test_a_person_deploys_a_manual_environment_without_the_policy_stopping_it(tmp_path: Path) -> None:
    root = _platform(tmp_path)
    with pytest.raises(ClusterError):
        await deploy(DeployRequest(root=root, environment="production"))


async def test_the_policy_error_is_refused_before_the_ledger_is_opened(tmp_path: Path) -> None:
    root = _platform(tmp_path)
    with pytest.raises(PolicyError) as err:
        await deploy(DeployRequest(root=root, environment="production", automatic=True))
    assert err.value.location is not None and err.value.location.key_path == "environments.production.deploy"
    assert not (root / ".gripctl").exists()
