"""Fixtures of the chaos suite: tiny synthetic platforms on the shared sandbox (a fresh namespace and
environment each, so nothing here disturbs another session), and every test marked `chaos` and
`cluster` (`pytest -m "not chaos"` leaves the suite out)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "secrets"))

from engine_platforms import SynthPlatform, make_platform

from gripctl.adapters.sandbox import SandboxInfo


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.chaos)


@pytest.fixture
def synth(tmp_path: Path, sandbox: SandboxInfo, namespace: str) -> Callable[..., SynthPlatform]:
    def build(needs: dict[str, list[str]], **kw: object) -> SynthPlatform:
        root = tmp_path / "repo"
        root.mkdir(exist_ok=True)
        return make_platform(
            root,
            namespace=namespace,
            kubeconfig=sandbox.kubeconfig,
            context=sandbox.context,
            needs=needs,
            **kw,
        )  # type: ignore[arg-type]

    return build
