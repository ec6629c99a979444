"""helmfile, the benchmark-only tool (`scripts/toolchain.sh --bench`, `make bench-toolchain`): it is the
pinned version and drives the pinned helm. Skipped where only the default toolchain was built."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from gripctl.adapters.toolchain import find_tool
from gripctl.errors import ToolMissingError


@pytest.fixture(scope="module")
def helmfile() -> str:
    try:
        return find_tool("helmfile")
    except ToolMissingError:
        pytest.skip("helmfile is benchmark-only: `make bench-toolchain` builds it")


def test_helmfile_reports_the_pinned_version(helmfile: str, pins: dict[str, str]) -> None:
    out = subprocess.run([helmfile, "--version"], capture_output=True, text=True, check=True, timeout=30)
    assert pins["HELMFILE_VERSION"] in out.stdout


def test_helmfile_renders_with_the_pinned_helm(helmfile: str, pins: dict[str, str], tmp_path: Path) -> None:
    chart = tmp_path / "chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: probe\nversion: 0.1.0\n")
    # The helm that renders this fills in its own version: the proof of which helm helmfile ran.
    (chart / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: probe\n"
        "data:\n  helm: {{ .Capabilities.HelmVersion.Version | quote }}\n"
    )
    (tmp_path / "helmfile.yaml").write_text(
        "releases:\n  - name: probe\n    namespace: probe\n    chart: ./chart\n"
    )
    home = tmp_path / "home"
    # Only the toolchain's directory and the system's: no other helm can be found.
    env = {"PATH": f"{Path(helmfile).parent}{os.pathsep}/usr/bin:/bin", "HOME": str(home)}
    env |= {f"HELM_{kind}_HOME": str(home / kind.lower()) for kind in ("CACHE", "CONFIG", "DATA")}
    out = subprocess.run(
        [helmfile, "--file", "helmfile.yaml", "template"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert f'helm: "{pins["HELM_VERSION"]}"' in out.stdout
