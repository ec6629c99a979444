"""Fixtures of the chaos suite: tiny synthetic platforms on the shared sandbox (a fresh namespace and
environment each, so nothing here disturbs another session), and every test marked `chaos` and
`cluster` (`pytest -m "not chaos"` leaves the suite out)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "secrets"))

from synth_fixture import synth


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.chaos)


__all__ = ["synth"]
