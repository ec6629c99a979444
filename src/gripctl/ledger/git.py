"""Reading the platform repository's git history for lead time: HEAD, and the commits since a sha.

Pure read-only helpers over the `git` binary (plain `git`, not a pinned tool: it only reads history).
Outside a git repository they return None / an empty list rather than fail: lead time is then unknown,
and a deploy must never fail for want of history.
"""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

from gripctl.ledger.types import CommitInfo

# Unit separator / record separator: cannot appear in a subject line, so parsing is unambiguous.
_US, _RS = "\x1f", "\x1e"
_FORMAT = f"%H{_US}%ct{_US}%an{_US}%s{_RS}"


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=False, timeout=60
    )


def head_commit(repo: Path) -> str | None:
    """The full sha of HEAD, or None when `repo` is not a git repository (or has no commits)."""
    try:
        result = _git(repo, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
    except FileNotFoundError:  # no git binary on this machine
        return None
    return result.stdout.strip() if result.returncode == 0 and result.stdout.strip() else None


def commits_since(
    repo: Path, since_sha: str | None, until: str = "HEAD", limit: int = 10_000
) -> list[CommitInfo]:
    """Commits reachable from `until` but not from `since_sha`, newest first, with commit times (UTC).

    `since_sha=None` (first deploy of an environment) or an sha git no longer knows (history rewritten)
    yields only `until` itself: counting all of history would invent years of lead time.
    """
    try:
        if since_sha and _git(repo, "cat-file", "-e", f"{since_sha}^{{commit}}").returncode == 0:
            rev_range = [f"{since_sha}..{until}"]
        else:
            rev_range = ["-1", until]
        result = _git(repo, "log", f"--max-count={limit}", f"--format={_FORMAT}", *rev_range)
    except FileNotFoundError:
        return []
    if result.returncode != 0:
        return []
    commits = []
    for record in result.stdout.split(_RS):
        record = record.strip("\n")
        if not record:
            continue
        sha, ts, author, summary = record.split(_US, 3)
        commits.append(
            CommitInfo(
                sha=sha, committed_at=datetime.fromtimestamp(int(ts), UTC), author=author, summary=summary
            )
        )
    return commits
