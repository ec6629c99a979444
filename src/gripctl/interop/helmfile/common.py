"""What export and import share: the files they plan to write, the gaps they report, whose files are whose."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

MARKER = "gripctl export helmfile"  # first-lines marker of every file an export writes


@dataclass(frozen=True)
class Gap:
    """Something one side has that the other cannot express: what, where, and what to do."""

    topic: str
    where: str
    detail: str

    def to_dict(self) -> dict[str, str]:
        return {"topic": self.topic, "where": self.where, "detail": self.detail}

    def __str__(self) -> str:
        return f"{self.where}: {self.topic}: {self.detail}"


@dataclass(frozen=True)
class PlannedFile:
    """A file to write: absolute path, content, mode; `plaintext_secrets` files are never shown."""

    path: Path
    text: str
    mode: int = 0o644
    plaintext_secrets: bool = False


def relpath(path: Path, base: Path) -> str:
    return Path(os.path.relpath(path, base)).as_posix()


def is_ours(path: Path, marker: str = MARKER) -> bool:
    """Whether `path` was written by an export/import (its first lines carry the marker), so that a
    re-run may replace it; a file of the user's is never overwritten without --force."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return True
    if not stat.S_ISREG(mode):
        return False
    try:
        with path.open(encoding="utf-8") as handle:
            head = "".join(handle.readline() for _ in range(4))
    except (OSError, UnicodeDecodeError):
        return False
    return marker in head
