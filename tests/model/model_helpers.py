"""Helpers for model tests: build small platform repositories, and snapshot them to prove nothing changed.

Imported as `model_helpers` (pytest puts this folder on sys.path; the name is unique across tests/)."""

from __future__ import annotations

import os
import stat
import textwrap
from collections.abc import Callable, Iterable
from pathlib import Path

PlatformFactory = Callable[..., Path]


def write_platform(
    root: Path,
    config: str | None,
    charts: Iterable[str] = (),
    secrets: Iterable[str] = (),
    files: dict[str, str] | None = None,
) -> Path:
    """A platform repository: gripctl.yaml, chart folders under ops/helm, secrets under ops/secrets."""
    root.mkdir(parents=True, exist_ok=True)
    if config is not None:
        (root / "gripctl.yaml").write_text(textwrap.dedent(config).lstrip("\n"))
    for chart in charts:
        folder = root / "ops/helm" / chart
        folder.mkdir(parents=True)
        (folder / "Chart.yaml").write_text(f"apiVersion: v2\nname: {chart[4:]}\nversion: 0.1.0\n")
    for name in secrets:
        folder = root / "ops/secrets" / name
        folder.mkdir(parents=True)
        (folder / "Chart.yaml").write_text(f"apiVersion: v2\nname: {name[4:]}\nversion: 0.1.0\n")
        (folder / "values.sops.yaml").write_text("secret: ENC[AES256_GCM,data:xx]\nsops: {}\n")
    for relative, text in (files or {}).items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    return root


def snapshot(root: Path) -> dict[str, tuple[int, int, bytes | None]]:
    """Every path under root with its type, mode and (regular files only) content: proof of no change."""
    result: dict[str, tuple[int, int, bytes | None]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            path = Path(dirpath) / name
            info = path.lstat()
            content = path.read_bytes() if stat.S_ISREG(info.st_mode) else None
            result[str(path.relative_to(root))] = (
                stat.S_IFMT(info.st_mode),
                stat.S_IMODE(info.st_mode),
                content,
            )
    return result
