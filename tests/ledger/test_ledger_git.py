"""Reading the platform repository's history for lead time, on a real git repository."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from gripctl.ledger.git import commits_since, head_commit


def _commit(repo: Path, message: str, when: str) -> str:
    (repo / "f.txt").write_text(message)
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Dana Ops",
        "GIT_AUTHOR_EMAIL": "dana@example.test",
        "GIT_COMMITTER_NAME": "Dana Ops",
        "GIT_COMMITTER_EMAIL": "dana@example.test",
        "GIT_AUTHOR_DATE": when,
        "GIT_COMMITTER_DATE": when,
    }
    subprocess.run(["git", "-C", str(repo), "add", "."], check=True, env=env)
    subprocess.run(["git", "-C", str(repo), "commit", "-qm", message], check=True, env=env)
    return subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()


def test_head_and_commits_since(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    first = _commit(tmp_path, "first", "2026-03-01T10:00:00+02:00")
    second = _commit(tmp_path, "bump cert-manager to 1.15 | with a pipe", "2026-03-02T09:00:00Z")
    third = _commit(tmp_path, "third", "2026-03-03T09:00:00Z")
    assert head_commit(tmp_path) == third

    since_first = commits_since(tmp_path, first)
    assert [c.sha for c in since_first] == [third, second]
    assert since_first[1].summary == "bump cert-manager to 1.15 | with a pipe"
    assert since_first[1].author == "Dana Ops"
    assert since_first[1].committed_at == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assert commits_since(tmp_path, third) == []
    # First deploy (no previous sha) or a sha git does not know: only HEAD, never all of history.
    assert [c.sha for c in commits_since(tmp_path, None)] == [third]
    assert [c.sha for c in commits_since(tmp_path, "f" * 40)] == [third]
    first_commit = commits_since(tmp_path, None, until=first)[0]
    assert first_commit.committed_at == datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def test_not_a_repository(tmp_path: Path) -> None:
    assert head_commit(tmp_path) is None
    assert commits_since(tmp_path, None) == []
