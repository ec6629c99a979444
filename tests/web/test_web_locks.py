"""A deploy the server runs and a deploy from the command line exclude each other: they take the same
environment lock in the ledger. On the sandbox, with a release that takes a few seconds to be ready."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from engine_platforms import make_platform
from web_helpers import running_server

from gripctl.adapters.sandbox import SandboxInfo
from gripctl.ledger.types import RunOutcome
from gripctl.service.workspace import ledger_of

pytestmark = pytest.mark.cluster


def wait_finished(root: Path, run_id: int, seconds: float = 120) -> RunOutcome:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        run = ledger_of(root).run_summary(run_id)
        if run is not None and run.outcome is not RunOutcome.running:
            return run.outcome
        time.sleep(0.3)
    raise AssertionError(f"run {run_id} still running")


def test_cli_and_api_deploys_exclude_each_other(tmp_path: Path, sandbox: SandboxInfo, namespace: str) -> None:
    sp = make_platform(
        tmp_path / "repo", namespace=namespace, kubeconfig=sandbox.kubeconfig, context=sandbox.context,
        needs={"010-a": [], "020-b": []}, values={"010-a": {"inject": "slow-ready", "readyAfter": "6s"}},
    )  # fmt: skip

    def cli_deploy(*only: str) -> subprocess.Popen[str]:
        command = ["deploy", "-e", sp.environment, *only]
        return subprocess.Popen(
            [sys.executable, "-m", "gripctl.cli.app", "-C", str(sp.root), *command],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip

    with running_server(sp.root, status_every=3600, worker=False) as server:
        alice = server.token("alice", "deployer")
        # The server's deploy holds the lock: the CLI is refused (exit 75) and changes nothing.
        started = server.api(alice, "POST", f"/api/v1/environments/{sp.environment}/deploys", json={})
        assert started.status_code == 202, started.text
        api_run = started.json()["run_id"]
        deadline = time.monotonic() + 60
        while ledger_of(sp.root).env_lock(sp.environment) is None:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        cli = cli_deploy()
        _, err = cli.communicate(timeout=180)
        assert cli.returncode == 75 and "is locked by another run" in err, err
        assert wait_finished(sp.root, api_run) is RunOutcome.succeeded
        # And the other way round: the CLI holds it (a slow change of 010-a), the server's run (a change of
        # 020-b) is refused before changing anything.
        sp.set_values("010-a", version="v2")
        sp.set_values("020-b", version="v2")
        cli = cli_deploy("--only", "010-a")
        deadline = time.monotonic() + 120
        while (lock := ledger_of(sp.root).env_lock(sp.environment)) is None or lock.run_id == api_run:
            assert time.monotonic() < deadline and cli.poll() is None
            time.sleep(0.1)
        started = server.api(
            alice, "POST", f"/api/v1/environments/{sp.environment}/deploys", json={"only": ["020-b"]}
        )
        assert started.status_code == 202, started.text
        refused = started.json()["run_id"]
        assert wait_finished(sp.root, refused) is RunOutcome.refused
        run = ledger_of(sp.root).run(refused)
        assert run is not None and "locked by another run" in (run.error or ""), run
        assert not [a for a in run.actions if a.release_id == "020-b"]  # nothing was changed
        cli.communicate(timeout=180)
        assert cli.returncode == 0
