"""`gripctl incident` from the command line, on a real SQLite ledger."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def _gripctl(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "GRIPCTL_DATABASE_URL": f"sqlite:///{tmp_path}/ledger.sqlite",
        "GRIPCTL_USER": "carol",
    }
    return subprocess.run(
        [sys.executable, "-m", "gripctl.cli.app", "-C", str(tmp_path), *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def test_open_ack_resolve_show(tmp_path: Path) -> None:
    opened = _gripctl(tmp_path, "-o", "json", "incident", "open", "ingress 502s", "-e", "production")
    assert opened.returncode == 0, opened.stderr
    incident = json.loads(opened.stdout)
    assert incident["severity"] == "P1" and incident["status"] == "open"
    assert _gripctl(tmp_path, "incident", "ack", str(incident["id"])).returncode == 0
    resolved = _gripctl(tmp_path, "incident", "resolve", str(incident["id"]), "--rca", "expired certificate")
    assert resolved.returncode == 0, resolved.stderr
    shown = _gripctl(tmp_path, "incident", "show", str(incident["id"]))
    assert "root cause: expired certificate" in shown.stdout
    assert "acknowledged by carol" in shown.stdout
    listed = json.loads(_gripctl(tmp_path, "-o", "json", "incident", "list", "--status", "resolved").stdout)
    assert [i["id"] for i in listed] == [incident["id"]]


def test_unknown_incident_is_a_clear_error(tmp_path: Path) -> None:
    result = _gripctl(tmp_path, "incident", "resolve", "41")
    assert result.returncode == 64
    assert "no incident #41" in result.stderr and "gripctl incident list" in result.stderr
    assert "Traceback" not in result.stderr
