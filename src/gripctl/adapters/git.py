"""The `git` binary as typed calls: work-tree state, throwaway repositories, and pushing a branch.

Thin on purpose, like the other adapters: it builds argv and returns results; the scaffold and docsite
rooms decide what a dirty tree or a refused push means. Plain `git` from PATH (it is not a pinned tool).
Commits made here carry a fixed identity unless the caller gives one, so they never depend on a
user's global git configuration (CI machines often have none).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from gripctl.errors import ToolError, ToolMissingError

GRIPCTL_IDENTITY = {
    "GIT_AUTHOR_NAME": "gripctl",
    "GIT_AUTHOR_EMAIL": "gripctl@localhost",
    "GIT_COMMITTER_NAME": "gripctl",
    "GIT_COMMITTER_EMAIL": "gripctl@localhost",
}


@dataclass(frozen=True)
class GitResult:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def git(
    cwd: Path,
    *args: str,
    check: bool = True,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
    timeout: float = 300,
) -> GitResult:
    """Run `git ARGS` in `cwd`; a ToolError with git's message when `check` and it fails."""
    full_env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", **(env or {})}
    try:
        proc = subprocess.run(
            ["git", *args],
            cwd=cwd,
            input=stdin,
            capture_output=True,
            text=True,
            env=full_env,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError:
        raise ToolMissingError(
            "`git` is not installed", hint="install git (Debian: apt-get install git)"
        ) from None
    result = GitResult(tuple(args), proc.returncode, proc.stdout, proc.stderr)
    if check and not result.ok:
        detail = (result.stderr or result.stdout).strip()
        raise ToolError(f"git {' '.join(args[:2])} failed (exit {proc.returncode}): {detail}")
    return result


def toplevel(path: Path) -> Path | None:
    """The root of the git work tree that holds `path`, or None when it is not in one."""
    if not path.is_dir():
        return None
    result = git(path, "rev-parse", "--show-toplevel", check=False)
    return Path(result.stdout.strip()) if result.ok and result.stdout.strip() else None


def status(path: Path) -> list[str]:
    """`git status --porcelain` lines for the work tree under `path` (untracked files included)."""
    out = git(path, "status", "--porcelain", "--untracked-files=all", "--", ".").stdout
    return [line for line in out.splitlines() if line.strip()]


def unmerged(path: Path) -> list[str]:
    """Paths git records as unmerged (conflicted) under `path`, relative to the work tree's root."""
    out = git(path, "diff", "--name-only", "--diff-filter=U").stdout
    return [line for line in out.splitlines() if line.strip()]


def head(path: Path) -> str | None:
    result = git(path, "rev-parse", "--verify", "--quiet", "HEAD^{commit}", check=False)
    return result.stdout.strip() or None if result.ok else None


def commit_of(path: Path, ref: str) -> str | None:
    """The commit `ref` names (a branch, tag, sha, `HEAD~3`, `origin/main`), or None when git knows none."""
    result = git(
        path, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}", check=False
    )
    return result.stdout.strip() or None if result.ok else None


def changed_paths(path: Path, ref: str) -> list[str]:
    """The files under `path` that differ between `ref` and the work tree (committed or not, and
    untracked files not ignored), relative to `path`. A rename is its old and its new path."""
    diff = git(path, "diff", "--name-only", "--no-renames", "--relative", "-z", ref, "--").stdout
    untracked = git(path, "ls-files", "--others", "--exclude-standard", "-z", "--", ".").stdout
    names = [n for n in (diff + untracked).split("\0") if n]
    return sorted(dict.fromkeys(names))


def show(path: Path, ref: str, relative: str) -> str | None:
    """The text of file `relative` (to `path`) at commit `ref`, or None when it did not exist there."""
    result = git(path, "show", f"{ref}:./{relative}", check=False)
    return result.stdout if result.ok else None


def push(repo: Path, remote: str, refspecs: Sequence[str], *, force: bool = False) -> GitResult:
    args = ["push", "--porcelain", *(["--force"] if force else []), remote, *refspecs]
    return git(repo, *args, check=False, timeout=600)
