"""Helpers for the helmfile interop tests: private copies of the example, small platforms, and the view of
a release that export -> import must keep (name, namespace, needs, values layering, secrets, ...).

Imported as `interop_helpers` (pytest puts this folder on sys.path; the name is unique across tests/)."""

from __future__ import annotations

import os
import shutil
import stat
import sys
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gripctl.cli.app import main
from gripctl.model import Platform, load_platform

REPO = Path(__file__).resolve().parents[2]
WEBGRIP = REPO / "examples" / "webgrip"
TEST_KEY = WEBGRIP / "keys" / "test-only.agekey"


def copy_webgrip(target: Path) -> Path:
    """A private copy of the example platform (tests never write into examples/)."""
    shutil.copytree(WEBGRIP, target, ignore=shutil.ignore_patterns(".gripctl"))
    return target


def write_platform(
    root: Path, config: str, charts: Iterable[str] = (), files: dict[str, str] | None = None
) -> Path:
    """A small platform: gripctl.yaml, chart folders under ops/helm (each rendering one ConfigMap)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "gripctl.yaml").write_text(textwrap.dedent(config).lstrip("\n"))
    for chart in charts:
        folder = root / "ops/helm" / chart
        (folder / "templates").mkdir(parents=True)
        (folder / "Chart.yaml").write_text(f"apiVersion: v2\nname: {chart[4:]}\nversion: 0.1.0\n")
        (folder / "templates" / "cm.yaml").write_text(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n"
            "data:\n  values: {{ toJson .Values | quote }}\n"
        )
    for relative, text in (files or {}).items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    return root


def release_view(platform: Platform) -> dict[str, dict[str, Any]]:
    """Everything about each release that decides what helm is asked to do, paths resolved."""
    return {
        rid: {
            "name": r.name,
            "namespace": r.namespace,
            "chart": r.chart_path.resolve(),
            "needs": sorted(r.needs),
            "labels": r.labels,
            "values_files": [f.resolve() for f in r.values_files],
            "secrets": [s.path.resolve() for s in r.secrets],
            "set_values": r.set_values,
            "timeout_seconds": r.timeout_seconds,
            "create_namespace": r.create_namespace,
            "secrets_for": r.secrets_for,
        }
        for rid, r in platform.releases.items()
    }


def same_platform(original: Path, imported: Path, environment: str | None) -> None:
    a = load_platform(original, environment)
    b = load_platform(imported, environment)
    assert list(a.releases) == list(b.releases)
    view_a, view_b = release_view(a), release_view(b)
    for rid in view_a:
        assert view_a[rid] == view_b[rid], rid
    assert a.environment.context == b.environment.context


def snapshot(root: Path) -> dict[str, tuple[int, bytes | None]]:
    """Every path under root with its mode and content: proof that nothing was written."""
    result: dict[str, tuple[int, bytes | None]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            path = Path(dirpath) / name
            info = path.lstat()
            result[str(path.relative_to(root))] = (
                info.st_mode,
                path.read_bytes() if stat.S_ISREG(info.st_mode) else None,
            )
    return result


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


def run_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> CliResult:
    """The real entry point (its error-to-exit-code mapping included), in this process."""
    monkeypatch.setattr(sys, "argv", ["gripctl", *args])
    capsys.readouterr()
    code: int | str | None = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return CliResult(int(code or 0), out, err)
