"""Finds the pinned external programs (helm, sops, age, kwokctl, ...) that scripts/toolchain.sh builds.

Lookup order: $GRIPCTL_TOOLCHAIN_BIN, then the cache's `current` toolchain
(~/.cache/gripctl/toolchain/current/bin, written by scripts/toolchain.sh), then $PATH.
"""

from __future__ import annotations

import os
import shutil
from functools import cache
from pathlib import Path

from gripctl.errors import ToolMissingError


def cache_root() -> Path:
    if env := os.environ.get("GRIPCTL_CACHE"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gripctl"


def toolchain_bin() -> Path | None:
    """The pinned toolchain's bin directory, if one has been built."""
    if env := os.environ.get("GRIPCTL_TOOLCHAIN_BIN"):
        return Path(env)
    current = cache_root() / "toolchain" / "current" / "bin"
    return current if current.is_dir() else None


@cache
def find_tool(name: str) -> str:
    """Absolute path of an external program, or a ToolMissingError that says how to get it."""
    candidates: list[str | None] = []
    if (bin_dir := toolchain_bin()) is not None:
        candidates.append(str(bin_dir / name) if (bin_dir / name).is_file() else None)
    candidates.append(shutil.which(name))
    for path in candidates:
        if path and os.access(path, os.X_OK):
            return path
    raise ToolMissingError(
        f"`{name}` is not installed (looked in the gripctl toolchain cache and on PATH)",
        hint="run `make setup` (builds the pinned toolchain from tools/versions.env), "
        "or set GRIPCTL_TOOLCHAIN_BIN to a folder that has it",
    )


def tool_env() -> dict[str, str]:
    """os.environ with the toolchain's bin directory first on PATH, for child processes."""
    env = dict(os.environ)
    if (bin_dir := toolchain_bin()) is not None:
        env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    return env
