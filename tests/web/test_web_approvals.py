"""Approvals through the server's API on a real ledger: pending plans with their (masked) diff, four
eyes, roles, rejection with a reason, the audit log; `approval.requested` reaches the channels with a
link to the plan page; the command line decides through the server with a token."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from web_helpers import Server, running_server, write_platform

from gripctl.ledger.types import ApprovalMethod
from gripctl.service.approvals import request_approval
from gripctl.service.workspace import ledger_of, load
from receivers import HttpReceiver

DIGEST = "c0ffee" + "0" * 58


def saved_plan(root: Path, requester: str = "alice", digest: str = DIGEST) -> None:
    body: dict[str, Any] = {
        "format": "gripctl/plan-v1",
        "has_changes": True,
        "waves": [["010-web"]],
        "releases": [
            {
                "release_id": "010-web",
                "action": "upgrade",
                "namespace": "web",
                "helm_name": "web",
                "reason": "chart 1.0.0 -> 1.1.0",
                "live_chart_version": "1.0.0",
                "desired_chart_version": "1.1.0",
                "changes": [
                    {"kind": "Secret", "namespace": "web", "name": "web", "change": "changed",
                     "diff": "-  password: <secret: old value>\n+  password: <secret: new value>"},
                ],
            }
        ],
    }  # fmt: skip
    ledger_of(root).save_plan(digest, "production", body, None, requested_by=requester)


def test_pending_plans_four_eyes_roles_and_rejection(server: Server) -> None:
    saved_plan(server.root)
    alice = server.token("alice", "approver")  # an approver, but she asked for this plan
    bob = server.token("bob", "approver")
    carol = server.token("carol", "approver")
    viewer = server.token("victor", "viewer")
    deployer = server.token("dave", "deployer")
    pending = server.api(viewer, "GET", "/api/v1/plans").json()
    assert [p["id"] for p in pending] == [DIGEST[:12]]
    assert pending[0]["state"] == "awaiting-approval" and pending[0]["requested_by"] == "alice"
    assert "<secret: new value>" in pending[0]["releases"][0]["changes"][0]["diff"]
    for token, code in ((viewer, 403), (deployer, 403)):
        assert server.api(token, "POST", f"/api/v1/plans/{DIGEST[:12]}/approve", json={}).status_code == code
    own = server.api(alice, "POST", f"/api/v1/plans/{DIGEST[:12]}/approve", json={})
    assert own.status_code == 409 and "alice requested plan" in own.json()["message"]
    ledger = ledger_of(server.root)
    assert ledger.approvals(DIGEST) == []
    ok = server.api(bob, "POST", f"/api/v1/plans/{DIGEST[:12]}/approve", json={"comment": "lgtm"})
    assert ok.status_code == 200, ok.text
    assert ok.json()["approver"] == "bob" and ok.json()["method"] == "token"
    assert "run_id" not in ok.json()  # nobody asked the server to deploy it
    assert server.api(viewer, "GET", "/api/v1/plans").json() == []
    detail = server.api(viewer, "GET", f"/api/v1/plans/{DIGEST[:12]}").json()
    assert detail["state"] == "approved" and detail["approved_by"] == ["bob"]
    # A rejection needs a reason, and vetoes the plan.
    empty = server.api(carol, "POST", f"/api/v1/plans/{DIGEST[:12]}/reject", json={"comment": " "})
    assert empty.status_code == 400 and "needs a reason" in empty.json()["message"]
    no = server.api(carol, "POST", f"/api/v1/plans/{DIGEST[:12]}/reject", json={"comment": "wrong chart"})
    assert (
        no.status_code == 200 and no.json()["decision"] == "rejected" and no.json()["reason"] == "wrong chart"
    )
    assert server.api(viewer, "GET", f"/api/v1/plans/{DIGEST[:12]}").json()["state"] == "rejected"
    assert ledger.valid_approvals(DIGEST) == []
    audit = {(e.action, e.actor) for e in ledger.audit_log()}
    assert {("approve", "bob"), ("reject", "carol")} <= audit
    [approval] = [d for d in ledger.approvals(DIGEST) if d.approver == "bob"]
    assert approval.method is ApprovalMethod.token and approval.expires_at is not None


def test_a_token_scoped_elsewhere_cannot_see_or_decide(server: Server) -> None:
    saved_plan(server.root)
    staging_only = server.token("bob", "approver", ("staging",))
    assert server.api(staging_only, "GET", f"/api/v1/plans/{DIGEST[:12]}").status_code == 403
    assert (
        server.api(staging_only, "POST", f"/api/v1/plans/{DIGEST[:12]}/approve", json={}).status_code == 403
    )
    assert server.api(staging_only, "GET", "/api/v1/plans").json() == []
    assert ledger_of(server.root).approvals(DIGEST) == []


def test_approval_requested_reaches_the_channels_with_a_link(
    tmp_path: Path, http_receiver: HttpReceiver
) -> None:
    root = write_platform(
        tmp_path / "repo",
        {"production": {"context": "x", "approval": "required", "approvers": ["bob"]}},
        server={"url": "https://gripctl.example.com"},
        notifications={
            "channels": {"hook": {"type": "webhook", "url": "env:HOOK_URL", "secret": "env:HOOK_SECRET"}},
            "routes": [{"events": ["approval.requested"], "channels": ["hook"]}],
        },
    )
    import os

    os.environ["HOOK_URL"] = http_receiver.url + "/hook"
    os.environ["HOOK_SECRET"] = "s3cret-for-the-test"
    try:
        saved_plan(root)
        ledger = ledger_of(root)
        record = ledger.get_plan(DIGEST)
        assert record is not None
        assert request_approval(load(root, "production"), ledger, record, "alice") is True
        assert request_approval(load(root, "production"), ledger, record, "alice") is False  # once per plan
    finally:
        del os.environ["HOOK_URL"], os.environ["HOOK_SECRET"]
    [sent] = [r.json() for r in http_receiver.at("/hook")]
    assert sent["kind"] == "approval.requested" and sent["environment"] == "production"
    assert sent["links"] == {"plan": f"https://gripctl.example.com/plans/{DIGEST[:12]}"}
    assert "alice asks to deploy plan" in sent["text"] and "010-web" in sent["text"]
    assert [e.action for e in ledger.audit_log()] == ["approval.request"]


def test_the_command_line_decides_through_the_server(platform: Path) -> None:
    saved_plan(platform)
    with running_server(platform, status_every=3600, worker=False) as server:
        bob = server.token("bob", "approver")

        def gripctl(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "gripctl.cli.app", "-C", str(platform), *args],
                capture_output=True, text=True, timeout=120, check=False,
            )  # fmt: skip

        plain = gripctl("approve", DIGEST[:12], "--as", "bob")
        assert plain.returncode != 0 and "must be authenticated" in plain.stderr, plain
        wrong = gripctl(
            "approve", DIGEST[:12], "--server", server.url, "--token", "grip_abcdef.not-the-secret-at-all"
        )
        assert wrong.returncode != 0 and "answered 401" in wrong.stderr, wrong
        done = gripctl(
            "-o", "json", "approve", DIGEST[:12], "--server", server.url, "--token", bob, "-m", "cli"
        )
        assert done.returncode == 0, done
        assert yaml.safe_load(done.stdout)["approver"] == "bob"
    [approval] = ledger_of(platform).approvals(DIGEST)
    assert (
        approval.approver == "bob" and approval.method is ApprovalMethod.token and approval.comment == "cli"
    )


def test_ssh_signed_approval_from_the_command_line(tmp_path: Path) -> None:
    from ssh_keys import signers

    root = write_platform(
        tmp_path / "repo",
        {"production": {"context": "x", "approval": "required", "approvers": ["alice", "bob"]}},
        approvals={"allowed_signers": "keys/allowed_signers"},
    )
    keys = signers(tmp_path / "ssh", ["alice", "bob"], root / "keys" / "allowed_signers")
    saved_plan(root)

    def gripctl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "gripctl.cli.app", "-C", str(root), *args],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip

    own = gripctl("approve", DIGEST[:12], "--sign", str(keys["alice"]))
    assert own.returncode != 0 and "alice requested plan" in own.stderr, own
    posing = gripctl("approve", DIGEST[:12], "--sign", str(keys["alice"]), "--as", "bob")
    assert posing.returncode != 0 and "belongs to 'alice', not to 'bob'" in posing.stderr, posing
    assert ledger_of(root).approvals(DIGEST) == []
    done = gripctl("approve", DIGEST[:12], "--sign", str(keys["bob"]))
    assert done.returncode == 0 and "approved by bob" in done.stdout and "(ssh)" in done.stdout, done
    [entry] = [e for e in ledger_of(root).audit_log(action="approve")]
    assert (
        entry.actor == "bob" and entry.source == "cli" and "BEGIN SSH SIGNATURE" in entry.detail["signature"]
    )
