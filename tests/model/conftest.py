"""Fixtures for model tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from model_helpers import PlatformFactory, write_platform


@pytest.fixture
def make_platform(tmp_path: Path) -> PlatformFactory:
    """Build a platform repository in tmp_path/platform: factory(config, charts=, secrets=, files=)."""

    def factory(config: str | None, **kwargs: object) -> Path:
        return write_platform(tmp_path / "platform", config, **kwargs)  # type: ignore[arg-type]

    return factory
