"""Scaffold fixtures: a private template cache per test, so the default template's git repository is
made fresh and no test sees (or leaves) another's versions."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gripctl.adapters.toolchain import find_tool
from gripctl.errors import ToolMissingError


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # The toolchain is found through the cache too: pin it first (when there is one), then move the cache.
    with contextlib.suppress(ToolMissingError):
        monkeypatch.setenv("GRIPCTL_TOOLCHAIN_BIN", str(Path(find_tool("helm")).parent))
    cache = tmp_path / "cache"
    monkeypatch.setenv("GRIPCTL_CACHE", str(cache))
    return cache
