"""Bad input that needs no cluster: each refusal says what and what to do, and changes nothing.

(Refusals that need a live cluster — a locked release, missing approval, a chart that does not
render — are in test_deploy_cluster.py.)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from engine_platforms import SynthPlatform, make_platform

from gripctl.errors import ClusterError, LedgerError, UsageError
from gripctl.model.selection import Selection
from gripctl.service.deploy import DeployRequest, deploy

UNREACHABLE_KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters: [{name: gone, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]
users: [{name: gone, user: {token: abc}}]
contexts: [{name: gone, context: {cluster: gone, user: gone}}]
current-context: gone
"""


def _platform(tmp_path: Path, context: str = "gone") -> SynthPlatform:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(UNREACHABLE_KUBECONFIG)
    root = tmp_path / "repo"
    root.mkdir()
    return make_platform(
        root, namespace="ns", kubeconfig=kubeconfig, context=context, needs={"010-a": [], "020-b": ["010-a"]}
    )


def _ledger_runs(sp: SynthPlatform) -> int:
    db = sp.root / ".gripctl" / "ledger.sqlite"
    if not db.exists():
        return 0
    from gripctl.ledger import open_ledger

    return len(open_ledger(f"sqlite:///{db}").runs())


async def test_unknown_environment(tmp_path: Path) -> None:
    sp = _platform(tmp_path)
    with pytest.raises(UsageError, match="no environment named 'staging'") as err:
        await deploy(DeployRequest(root=sp.root, environment="staging"))
    assert sp.environment in str(err.value)  # the hint lists the known ones
    assert _ledger_runs(sp) == 0


async def test_unknown_release(tmp_path: Path) -> None:
    sp = _platform(tmp_path)
    with pytest.raises(UsageError, match="--only names '020-c'"):
        await deploy(
            DeployRequest(root=sp.root, environment=sp.environment, selection=Selection(only=("020-c",)))
        )
    assert _ledger_runs(sp) == 0


async def test_kube_context_missing(tmp_path: Path) -> None:
    sp = _platform(tmp_path, context="no-such-context")
    with pytest.raises(ClusterError, match="context 'no-such-context' not found") as err:
        await deploy(DeployRequest(root=sp.root, environment=sp.environment))
    assert "kubectl config get-contexts" in str(err.value)
    assert _ledger_runs(sp) == 0


async def test_cluster_unreachable_before_anything_is_deployed(tmp_path: Path) -> None:
    sp = _platform(tmp_path)
    with pytest.raises(ClusterError, match="unreachable"):
        await deploy(DeployRequest(root=sp.root, environment=sp.environment))
    assert _ledger_runs(sp) == 0


async def test_ledger_unreachable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sp = _platform(tmp_path)
    monkeypatch.setenv("GRIPCTL_DATABASE_URL", "postgresql+psycopg://gripctl:s3cret@127.0.0.1:1/ledger")
    with pytest.raises(LedgerError) as err:
        await deploy(DeployRequest(root=sp.root, environment=sp.environment))
    assert "cannot open the ledger database" in str(err.value)
    assert "s3cret" not in str(err.value)  # the password is masked


def test_cli_reports_errors_without_traceback_and_with_exit_codes(tmp_path: Path) -> None:
    sp = _platform(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "gripctl.cli.app", "-C", str(sp.root), "deploy", "-e", sp.environment],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "error:" in result.stderr and "unreachable" in result.stderr
    assert "Traceback" not in result.stderr
    usage = subprocess.run(
        [sys.executable, "-m", "gripctl.cli.app", "-C", str(sp.root), "deploy", "-e", "nope"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert usage.returncode == 64
