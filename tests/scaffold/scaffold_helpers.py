"""Helpers for the scaffold tests: a copy of examples/webgrip, git, the real CLI, and tree snapshots."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from gripctl.adapters.toolchain import find_tool
from gripctl.scaffold.template import PACKAGED_TEMPLATE

REPO = Path(__file__).resolve().parents[2]
WEBGRIP = REPO / "examples" / "webgrip"
TEST_KEY = WEBGRIP / "keys" / "test-only.agekey"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "test",
    "GIT_AUTHOR_EMAIL": "test@localhost",
    "GIT_COMMITTER_NAME": "test",
    "GIT_COMMITTER_EMAIL": "test@localhost",
}


def copy_webgrip(tmp_path: Path, name: str = "webgrip") -> Path:
    root = tmp_path / name
    shutil.copytree(WEBGRIP, root, ignore=shutil.ignore_patterns(".gripctl", "site"))
    return root


def git(cwd: Path, *args: str, check: bool = True) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, env={**os.environ, **GIT_ENV}, check=False
    )
    if check:
        assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout


def commit_all(root: Path, message: str = "change") -> None:
    if not (root / ".git").exists():
        git(root, "init", "--quiet", "--initial-branch", "main")
    git(root, "add", "-A")
    git(root, "commit", "--quiet", "--allow-empty", "-m", message)


def gripctl(root: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {
        **os.environ,
        "SOPS_AGE_KEY_FILE": str(TEST_KEY),
        "GRIPCTL_TOOLCHAIN_BIN": os.environ.get("GRIPCTL_TOOLCHAIN_BIN")
        or str(Path(find_tool("helm")).parent),
        "COLUMNS": "200",
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "gripctl.cli.app", "-C", str(root), *args],
        capture_output=True,
        text=True,
        env=full,
        timeout=300,
        check=False,
    )


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under `root` (outside .git) with its bytes: 'nothing was written' is equality."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }


def team_template(tmp_path: Path, version: str = "v1.0.0") -> Path:
    """A team's own template: a copy of the packaged one as a git repository tagged `version`."""
    repo = tmp_path / "team-template"
    shutil.copytree(PACKAGED_TEMPLATE, repo, ignore=shutil.ignore_patterns("__pycache__"))
    git(repo, "init", "--quiet", "--initial-branch", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", "template")
    git(repo, "tag", version)
    return repo


def retag(repo: Path, version: str, message: str = "template change") -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", message)
    git(repo, "tag", version)


def sops_decrypt(path: Path) -> Any:
    done = subprocess.run(
        [find_tool("sops"), "decrypt", "--output-type", "json", str(path)],
        capture_output=True,
        text=True,
        env={**os.environ, "SOPS_AGE_KEY_FILE": str(TEST_KEY)},
        check=True,
    )
    return json.loads(done.stdout)
