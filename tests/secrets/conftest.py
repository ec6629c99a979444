"""Fixtures for the secrets tests: isolated key locations, age identities, a platform with real SOPS
files, and `plaintext_watch`, a fanotify/inotify watcher that proves no secret value reached the disk."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from plaintext_watch import PlaintextWatch, plaintext_watch
from secrets_helpers import Identity, make_identity

from gripctl.adapters.toolchain import find_tool


@pytest.fixture(autouse=True)
def isolated_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test sees the developer's own age keys: HOME and XDG_CONFIG_HOME point into tmp_path and the
    SOPS_* variables are cleared. Returns the fake home."""
    home = tmp_path / "home"
    home.mkdir()
    for name in ("SOPS_AGE_KEY", "SOPS_AGE_KEY_FILE", "SOPS_AGE_KEY_CMD", "SOPS_AGE_SSH_PRIVATE_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("GRIPCTL_DATABASE_URL", raising=False)
    # find_tool may look in ~/.cache/gripctl: resolve the real toolchain before HOME moves.
    for tool in ("sops", "age", "age-keygen", "helm"):
        bin_dir = Path(find_tool(tool)).parent
        if "GRIPCTL_TOOLCHAIN_BIN" not in os.environ:
            monkeypatch.setenv("GRIPCTL_TOOLCHAIN_BIN", str(bin_dir))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    return home


@pytest.fixture
def alice(tmp_path: Path) -> Identity:
    return make_identity(tmp_path / "keys" / "alice.agekey")


@pytest.fixture
def bob(tmp_path: Path) -> Identity:
    return make_identity(tmp_path / "keys" / "bob.agekey")


__all__ = ["PlaintextWatch", "alice", "bob", "isolated_keys", "plaintext_watch"]
