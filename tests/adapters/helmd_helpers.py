"""Helpers for the gripctl-helmd tests: the helper must be installed, and a way to render every release
of the example platform the way observe/render.py does (values files, decrypted secrets, --set)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gripctl.adapters import helmd
from gripctl.adapters.helm import Values
from gripctl.model import load_platform
from gripctl.model.types import Release
from gripctl.secrets.values import merged_values

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "webgrip"
AGE_KEY = EXAMPLE / "keys" / "test-only.agekey"


def require_helper() -> helmd.Helper:
    """The running helper; a test failure (not a skip) when the toolchain has not built it."""
    helper = helmd._helper()
    if helper is None:
        pytest.fail(f"{helmd.HELPER} is not installed: `make setup` builds it with the pinned toolchain")
    return helper


def example_releases(environment: str) -> Iterator[tuple[Release, Path, Values]]:
    """Every release of examples/webgrip in `environment`, with its chart and values as render.py
    layers them (SOPS secrets decrypted with the example's TEST ONLY key: set SOPS_AGE_KEY_FILE)."""
    platform = load_platform(EXAMPLE, environment)
    root = platform.root
    for release in platform.releases.values():
        chart = release.chart_path if release.chart_path.is_absolute() else root / release.chart_path
        files = [f if f.is_absolute() else root / f for f in release.values_files]
        values = Values(
            files=files,
            stdin_yaml=merged_values(release.secrets, root),
            set_values=dict(release.set_values),
        )
        yield release, chart, values
