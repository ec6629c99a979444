"""Production approval at a terminal: the real CLI on a pseudo-terminal shows the plan summary and asks
"Deploy this plan?". With four eyes required (the default) the operator is refused before any prompt:
nobody approves their own deploy. Where a team turned four eyes off, a yes from an allowed approver is
signed with their SSH key (GRIPCTL_SIGNING_KEY, verified against the allowed signers file) and deploys;
no deploys nothing and records a refused run; somebody not on the approvers list is refused before any
prompt, and so is an approver without a key."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from engine_platforms import SynthPlatform, make_platform

from gripctl.adapters.sandbox import SandboxInfo
from gripctl.adapters.toolchain import find_tool
from gripctl.ledger import open_ledger
from gripctl.ledger.types import ApprovalMethod, RunOutcome

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ssh_keys import signers

pytestmark = pytest.mark.cluster

PROMPT = b"Deploy this plan?"


def deploy_on_a_terminal(
    sp: SynthPlatform, user: str, answer: bytes | None, key: Path | None = None
) -> tuple[int, str]:
    """`gripctl deploy -e <production>` with a pty as its terminal; `answer` is typed at the prompt."""
    master, slave = pty.openpty()
    env = {**os.environ, "GRIPCTL_USER": user, "COLUMNS": "160", "TERM": "xterm"}
    env.pop("GRIPCTL_SIGNING_KEY", None)
    if key is not None:
        env["GRIPCTL_SIGNING_KEY"] = str(key)
    env.pop("CI", None)
    env.pop("GRIPCTL_DATABASE_URL", None)  # the platform's own SQLite ledger
    env.pop("GITHUB_STEP_SUMMARY", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "gripctl.cli.app", "-C", str(sp.root), "deploy", "-e", sp.production],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        start_new_session=True,  # the pty becomes its controlling terminal
    )
    os.close(slave)
    seen, answered = b"", False
    deadline = time.monotonic() + 180
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # EIO: the CLI exited and closed the terminal
                    break
                if not chunk:
                    break
                seen += chunk
            if answer is not None and not answered and PROMPT in seen:
                os.write(master, answer + b"\r")
                answered = True
            if proc.poll() is not None and not ready:
                break
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    return code, seen.decode(errors="replace")


def releases_in(sp: SynthPlatform, sandbox: SandboxInfo) -> str:
    done = subprocess.run(
        [find_tool("helm"), "--kubeconfig", str(sandbox.kubeconfig), "--kube-context", sandbox.context,
         "list", "-n", sp.namespace, "-q", "--deployed", "--failed", "--pending", "--superseded",
         "--uninstalled"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout.strip()


def test_terminal_prompt_decides_a_production_deploy(
    tmp_path: Path, sandbox: SandboxInfo, namespace: str
) -> None:
    keys = signers(tmp_path / "keys", ["alice"], tmp_path / "repo" / "keys" / "allowed_signers")
    sp = make_platform(
        tmp_path / "repo", namespace=namespace, kubeconfig=sandbox.kubeconfig, context=sandbox.context,
        needs={"010-a": []}, production={"four_eyes": False},
        extra={"approvals": {"allowed_signers": "keys/allowed_signers"}},
    )  # fmt: skip
    code, out = deploy_on_a_terminal(sp, "mallory", answer=None, key=keys["alice"])
    assert code != 0 and PROMPT.decode() not in out, out
    assert "'mallory' may not approve changes" in out and "alice" in out, out
    ledger = open_ledger(f"sqlite:///{sp.root / '.gripctl' / 'ledger.sqlite'}")

    code, out = deploy_on_a_terminal(sp, "alice", answer=None)  # an approver, but without a key
    assert code != 0 and PROMPT.decode() not in out and "needs your SSH key" in out, out

    code, out = deploy_on_a_terminal(sp, "alice", answer=b"n", key=keys["alice"])
    assert PROMPT.decode() in out and "010-a" in out, out  # the summary was shown before the question
    assert code != 0 and "not confirmed; nothing was changed" in out, out
    assert releases_in(sp, sandbox) == ""
    assert [r.outcome for r in ledger.runs(sp.production)] == [RunOutcome.refused] * 3

    code, out = deploy_on_a_terminal(sp, "alice", answer=b"y", key=keys["alice"])
    assert code == 0, out
    assert releases_in(sp, sandbox) == "a"
    runs = ledger.runs(sp.production)
    assert runs[0].outcome is RunOutcome.succeeded, runs  # newest first
    [approval] = ledger.approvals(runs[0].plan_digest or "")
    assert approval.approver == "alice" and approval.method is ApprovalMethod.ssh


def test_four_eyes_refuse_the_terminal_prompt(tmp_path: Path, sandbox: SandboxInfo, namespace: str) -> None:
    keys = signers(tmp_path / "keys", ["alice"], tmp_path / "repo" / "keys" / "allowed_signers")
    sp = make_platform(
        tmp_path / "repo", namespace=namespace, kubeconfig=sandbox.kubeconfig, context=sandbox.context,
        needs={"010-a": []}, extra={"approvals": {"allowed_signers": "keys/allowed_signers"}},
    )  # fmt: skip
    code, out = deploy_on_a_terminal(sp, "alice", answer=b"y", key=keys["alice"])
    assert code != 0 and PROMPT.decode() not in out, out
    assert "requires four eyes: alice cannot approve a plan they deploy" in out, out
    assert releases_in(sp, sandbox) == ""
