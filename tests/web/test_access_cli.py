"""`gripctl token create|list|revoke` and `gripctl audit` with the real CLI: the token is printed once and
only its argon2 hash is stored; bad input changes nothing; every change is in the audit log."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from gripctl.ledger import open_ledger
from gripctl.service.access import authenticate


def gripctl(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gripctl.cli.app", "-C", str(root), *args],
        capture_output=True, text=True, timeout=120, check=False, env={**os.environ, "GRIPCTL_USER": "root"},
    )  # fmt: skip


def test_token_lifecycle_and_audit(platform: Path) -> None:
    made = gripctl(platform, "-o", "json", "token", "create", "--user", "alice", "--role", "approver",
                   "--env", "production", "--expires", "90d")  # fmt: skip
    assert made.returncode == 0, made
    created = json.loads(made.stdout)
    token = created["token"]
    assert token.startswith("grip_") and created["environments"] == ["production"] and created["expires_at"]
    ledger = open_ledger(f"sqlite:///{platform / '.gripctl' / 'ledger.sqlite'}")
    principal = authenticate(ledger, token)
    assert (principal.user, principal.role.value, principal.environments) == (
        "alice",
        "approver",
        ("production",),
    )
    secret = token.split(".", 1)[1]
    dump = "\n".join(sqlite3.connect(platform / ".gripctl" / "ledger.sqlite").iterdump())
    assert secret not in dump and "$argon2id$" in dump  # only the hash is kept
    listed = gripctl(platform, "token", "list")
    assert listed.returncode == 0 and "alice" in listed.stdout and secret not in listed.stdout, listed
    revoked = gripctl(platform, "token", "revoke", created["id"])
    assert revoked.returncode == 0 and "revoked" in revoked.stdout, revoked
    audit = gripctl(platform, "-o", "json", "audit")
    entries = json.loads(audit.stdout)["entries"]
    assert [(e["action"], e["actor"], e["source"]) for e in entries] == [
        ("token.revoke", "root", "cli"),
        ("token.create", "root", "cli"),
    ]
    text = gripctl(platform, "audit", "--action", "token.create")
    assert text.returncode == 0 and "token.create" in text.stdout and "token.revoke" not in text.stdout


def test_bad_token_requests_change_nothing(platform: Path) -> None:
    for args, says in (
        (("--user", "alice", "--role", "approver", "--env", "prod"), "no environment named 'prod'"),
        (("--user", "alice", "--role", "boss"), "'boss' is not one of"),
        (("--user", "alice", "--role", "viewer", "--expires", "soonish"), "neither a duration nor a date"),
        (("--user", " ", "--role", "viewer"), "needs a user name"),
    ):
        done = gripctl(platform, "token", "create", *args)
        assert done.returncode != 0 and says in done.stderr, (args, done.stderr)
        assert "grip_" not in done.stdout
    missing = gripctl(platform, "token", "revoke", "nosuchtoken")
    assert missing.returncode != 0 and "no API token 'nosuchtoken'" in missing.stderr
    listed = gripctl(platform, "-o", "json", "token", "list")
    assert json.loads(listed.stdout) == []
    assert json.loads(gripctl(platform, "-o", "json", "audit").stdout)["entries"] == []
