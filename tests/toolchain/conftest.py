"""Fixtures for the toolchain tests: the pins of tools/versions.env, as the tests' source of truth."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def read_pins(versions_env: Path) -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in versions_env.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            pins[name.strip()] = value.strip()
    return pins


@pytest.fixture(scope="session")
def pins() -> dict[str, str]:
    return read_pins(ROOT / "tools" / "versions.env")
