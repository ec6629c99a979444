"""The default template and the docs hook ship inside the wheel (package data that hatch must include)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from gripctl.scaffold.template import PACKAGED_TEMPLATE

REPO = Path(__file__).resolve().parents[2]


def test_the_wheel_holds_the_default_template_and_the_docs_hook(tmp_path: Path) -> None:
    # uv as `make venv` installs it (python3 -m uv), or on PATH.
    candidates = [["uv"], ["python3", "-m", "uv"], [sys.executable, "-m", "uv"]]
    usable = [
        c
        for c in candidates
        if shutil.which(c[0])
        and subprocess.run([*c, "--version"], capture_output=True, check=False).returncode == 0
    ]
    if not usable:
        pytest.skip("uv is not installed (make venv installs it)")
    uv = usable[0]
    built = subprocess.run(
        [*uv, "build", "--wheel", "--out-dir", str(tmp_path), str(REPO)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("gripctl-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {
        "gripctl/scaffold/template/" + str(p.relative_to(PACKAGED_TEMPLATE))
        for p in PACKAGED_TEMPLATE.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert "gripctl/scaffold/template/copier.yml" in shipped
    assert shipped <= names, sorted(shipped - names)
    assert "gripctl/docsite/hooks.py" in names
