"""gripctl's MkDocs hook: the generated pages join the hand-written ones, in memory, on every build.

MkDocs loads `hooks.py` (a file path in the config) as a module of its own; that module only forwards
to the functions here, which read the platform named by `context()`. One platform per process at a
time, which is how `gripctl docs` runs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gripctl.docsite import pages

_current: list[Path] = []


@contextlib.contextmanager
def context(root: Path) -> Iterator[None]:
    _current.append(root)
    try:
        yield
    finally:
        _current.pop()


def _root() -> Path:
    if not _current:
        raise RuntimeError("gripctl's MkDocs hook runs only inside `gripctl docs`")
    return _current[-1]


def _nav_paths(nav: Any) -> set[str]:
    if isinstance(nav, str):
        return {nav}
    if isinstance(nav, dict):
        return set().union(*(_nav_paths(v) for v in nav.values())) if nav else set()
    if isinstance(nav, list):
        return set().union(*(_nav_paths(v) for v in nav)) if nav else set()
    return set()


def on_config(config: Any) -> Any:
    """With an explicit nav, the generated sections are appended to it, and so are the pages of apps
    made by `gripctl new app` (docs/apps/) that the nav does not list yet."""
    from gripctl.model import load_platform

    if config.nav:
        listed = _nav_paths(config.nav)
        apps_dir = Path(config.docs_dir) / "apps"
        apps = sorted(f"apps/{p.name}" for p in apps_dir.glob("*.md")) if apps_dir.is_dir() else []
        extra = [{"Applications": [a for a in apps if a not in listed]}] if set(apps) - listed else []
        config.nav = [*config.nav, *extra, *pages.nav_sections(load_platform(_root()))]
    return config


def on_files(files: Any, config: Any) -> Any:
    """Add the generated pages (regenerated from the platform on every build and rebuild)."""
    from mkdocs.structure.files import File

    from gripctl.model import load_platform

    docs_dir = Path(config.docs_dir)
    with_index = not any((docs_dir / name).is_file() for name in ("index.md", "README.md"))
    for path, content in pages.generate(load_platform(_root()), with_index=with_index).items():
        if files.get_file_from_path(path) is None:
            files.append(File.generated(config, path, content=content))
    return files
