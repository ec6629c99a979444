"""The `synth` fixture: a builder of tiny synthetic platforms (engine_platforms.make_platform) in the
test's own fresh namespace on the shared sandbox. Imported by the conftest of each folder that uses it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from engine_platforms import SynthPlatform, make_platform

from gripctl.adapters.sandbox import SandboxInfo


@pytest.fixture
def synth(tmp_path: Path, sandbox: SandboxInfo, namespace: str) -> Callable[..., SynthPlatform]:
    def build(needs: dict[str, list[str]], **kw: Any) -> SynthPlatform:
        root = tmp_path / "repo"
        root.mkdir(exist_ok=True)
        return make_platform(
            root,
            namespace=namespace,
            kubeconfig=sandbox.kubeconfig,
            context=sandbox.context,
            needs=needs,
            **kw,
        )

    return build
