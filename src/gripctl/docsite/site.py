"""Building the platform's documentation site with MkDocs (Material, TechDocs-compatible), in process.

The platform's own `mkdocs.yml` is used when there is one (read with MkDocs' own loader, so `!ENV` and
`INHERIT` work), else a default one: Material through `mkdocs-techdocs-core`, which is what Backstage's
TechDocs builds with, so the output (with its `techdocs_metadata.json`) can be published for Backstage.
gripctl adds its generated pages through a MkDocs hook (`hooks.py` beside this module): they exist only
in memory, join the hand-written ones in `docs/`, and are rebuilt on every change under `serve`.

Offline by design: the theme's web fonts are switched off (`theme.font: false`, no Google Fonts link), and
no plugin that downloads anything is added.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gripctl.docsite import pages, plugin
from gripctl.errors import DocsError, Location
from gripctl.model import Platform, load_platform

CONFIG_NAMES = ("mkdocs.yml", "mkdocs.yaml")
HOOKS_FILE = Path(__file__).with_name("hooks.py")
DEFAULT_SITE_DIR = "site"


@dataclass(frozen=True)
class SiteSources:
    root: Path
    docs_dir: Path
    config_file: Path | None  # the platform's mkdocs.yml, if any
    generated: tuple[str, ...]  # the generated pages' paths under docs_dir
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class BuildResult:
    site_dir: Path
    sources: SiteSources
    pages: int  # HTML pages in the built site
    warnings: tuple[str, ...]
    seconds: float


class _Capture(logging.Handler):
    """MkDocs' warnings, kept for the result instead of printed."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record.getMessage())


def _platform_config(root: Path) -> Path | None:
    return next((root / name for name in CONFIG_NAMES if (root / name).is_file()), None)


def _read_user_config(path: Path) -> dict[str, Any]:
    from mkdocs import exceptions
    from mkdocs.utils.yaml import get_yaml_loader, yaml_load

    try:
        with path.open("rb") as fd:
            data = yaml_load(fd, get_yaml_loader())
    except exceptions.ConfigurationError as exc:
        raise DocsError(str(exc), location=Location(path.name)) from None
    if not isinstance(data, dict):
        raise DocsError(f"{path.name} must be a mapping of MkDocs settings", location=Location(path.name))
    return data


def sources(root: Path, platform: Platform | None = None) -> SiteSources:
    """Where the hand-written pages are, and which pages gripctl generates (checked not to clash)."""
    root = root.resolve()
    platform = platform or load_platform(root)
    config_file = _platform_config(root)
    user = _read_user_config(config_file) if config_file else {}
    docs_dir = (root / str(user.get("docs_dir", "docs"))).resolve()
    if not docs_dir.is_dir():
        shown = docs_dir.relative_to(root) if docs_dir.is_relative_to(root) else docs_dir
        raise DocsError(
            f"no documentation folder {shown}",
            hint="create docs/ with an index.md (gripctl adds the generated pages to it)",
        )
    with_index = not any((docs_dir / name).is_file() for name in ("index.md", "README.md"))
    generated = tuple(pages.generate(platform, with_index=with_index))
    clash = [page for page in generated if (docs_dir / page).exists()]
    if clash:
        raise DocsError(
            f"docs/{clash[0]} is hand-written, but gripctl generates that page"
            + (f" (and {len(clash) - 1} more)" if len(clash) > 1 else ""),
            location=Location(f"docs/{clash[0]}"),
            hint=f"move hand-written pages out of docs/{pages.REFERENCE}/ and docs/{pages.RUNBOOKS}/",
        )
    notes: list[str] = []
    plugins = user.get("plugins") or []
    names = [next(iter(p)) if isinstance(p, dict) else str(p) for p in plugins]
    if config_file is not None and "techdocs-core" not in names:
        notes.append(
            f"{config_file.name} does not use the techdocs-core plugin: Backstage's TechDocs expects it"
        )
    return SiteSources(root, docs_dir, config_file, generated, tuple(notes))


def _absolute(value: Any, base: Path) -> Any:
    return str((base / value).resolve()) if isinstance(value, str) and value else value


def effective_config(src: SiteSources, site_dir: Path, *, strict: bool) -> dict[str, Any]:
    """The MkDocs settings gripctl builds with: the platform's, with paths made absolute, gripctl's
    hook added, web fonts off, and link/anchor validation on."""
    config: dict[str, Any] = _read_user_config(src.config_file) if src.config_file else {}
    base = src.config_file.parent if src.config_file else src.root
    config.setdefault("site_name", f"{src.root.name} platform")
    config["docs_dir"] = str(src.docs_dir)
    config["site_dir"] = str(site_dir)
    theme = config.get("theme") or {"name": "material"}
    if isinstance(theme, str):
        theme = {"name": theme}
    if "custom_dir" in theme:
        theme["custom_dir"] = _absolute(theme["custom_dir"], base)
    theme["font"] = False  # no Google Fonts link: the site works offline and leaks no visitor to a CDN
    config["theme"] = theme
    if src.config_file is None:
        config["plugins"] = ["techdocs-core"]
        config["extra"] = {"generator": False}  # no "Made with Material" link to the web in every footer
    hooks = [_absolute(h, base) for h in config.get("hooks") or []]
    config["hooks"] = [*hooks, str(HOOKS_FILE)]
    validation = config.get("validation") or {}
    if isinstance(validation, dict):
        links = validation.setdefault("links", {})
        if isinstance(links, dict):
            links.setdefault("anchors", "warn")
            links.setdefault("unrecognized_links", "warn")
            links.setdefault("not_found", "warn")
        config["validation"] = validation
    config["strict"] = strict
    return config


@contextlib.contextmanager
def staged_config(src: SiteSources, site_dir: Path, *, strict: bool) -> Iterator[Path]:
    """The effective config written to a temporary mkdocs.yml, and gripctl's hook pointed at the
    platform, for as long as the block runs."""
    with tempfile.TemporaryDirectory(prefix="gripctl-docs-") as tmp:
        path = Path(tmp) / "mkdocs.yml"
        path.write_text(yaml.safe_dump(effective_config(src, site_dir, strict=strict), sort_keys=False))
        with plugin.context(src.root):
            yield path


@contextlib.contextmanager
def _quiet_imports() -> Iterator[None]:
    # mkdocs-monorepo-plugin (pulled in by techdocs-core) has an invalid escape in a regex literal.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntaxWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


def build(root: Path, site_dir: Path | None = None, *, strict: bool = True) -> BuildResult:
    """Build the site into `site_dir` (default `<root>/site`); DocsError listing MkDocs' warnings when a
    strict build has any."""
    from mkdocs.config import load_config
    from mkdocs.exceptions import Abort, ConfigurationError, PluginError

    root = root.resolve()
    src = sources(root)
    site_dir = (site_dir or root / DEFAULT_SITE_DIR).resolve()
    if site_dir == src.docs_dir or src.docs_dir.is_relative_to(site_dir):
        raise DocsError(f"the site folder {site_dir} would overwrite the documentation sources")
    capture = _Capture()
    logger = logging.getLogger("mkdocs")
    propagate = logger.propagate
    logger.addHandler(capture)
    logger.propagate = False  # MkDocs' warnings come back in the result, not on stderr
    started = time.monotonic()
    try:
        with _quiet_imports(), staged_config(src, site_dir, strict=strict) as config_path:
            from mkdocs.commands import build as mkdocs_build

            config = load_config(config_file=str(config_path))
            config.plugins.on_startup(command="build", dirty=False)
            try:
                mkdocs_build.build(config)
            finally:
                config.plugins.on_shutdown()
    except (Abort, ConfigurationError, PluginError) as exc:
        shown = "; ".join(capture.records[:10]) + (" ..." if len(capture.records) > 10 else "")
        raise DocsError(
            f"the documentation did not build: {exc}" + (f": {shown}" if shown else ""),
            hint="fix the pages (or mkdocs.yml) named above; `gripctl docs build --no-strict` shows the site "
            "regardless",
        ) from None
    finally:
        logger.removeHandler(capture)
        logger.propagate = propagate
    count = sum(1 for _ in site_dir.rglob("*.html"))
    return BuildResult(site_dir, src, count, tuple(capture.records), time.monotonic() - started)


def serve(root: Path, dev_addr: str = "127.0.0.1:8000", *, livereload: bool = True) -> None:
    """`mkdocs serve` of the platform's docs with the generated pages; rebuilds when the docs, the
    platform file or the charts change. Blocks until interrupted."""
    from mkdocs.commands import serve as mkdocs_serve

    root = root.resolve()
    src = sources(root)
    watch = [str(p) for p in (root / "gripctl.yaml", root / "ops", root / "envs") if p.exists()]
    os.environ.setdefault("NO_MKDOCS_2_WARNING", "1")
    with (
        _quiet_imports(),
        tempfile.TemporaryDirectory(prefix="gripctl-site-") as site,
        staged_config(src, Path(site), strict=False) as config_path,
    ):
        mkdocs_serve.serve(
            config_file=str(config_path), dev_addr=dev_addr, livereload=livereload, watch=watch
        )
