"""Where an application template comes from: the default one inside the package, or a team's own.

copier updates an app by rendering the template's *old* version (the `_commit` in the app's answers)
next to the new one, so a template must be a git repository with version tags. The default template
ships as plain files (package data, `template/` beside this module, its version in `template/VERSION`);
`default_template()` turns it into such a repository under the cache (`~/.cache/gripctl/templates/
default`), one commit and tag `vVERSION` per version it has seen, and gives copier the path as
`~/...` so that the answers file a platform commits names no user's home directory.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from gripctl.adapters import git as gitcmd
from gripctl.adapters.toolchain import cache_root
from gripctl.errors import UsageError

PACKAGED_TEMPLATE = Path(__file__).parent / "template"
DEFAULT_NAME = "default"
_NOT_TEMPLATE = ("__pycache__",)


@dataclass(frozen=True)
class TemplateSource:
    """A template as copier is given it: `src` (path or URL), and the ref to render (None: latest tag)."""

    src: str
    ref: str | None
    is_default: bool
    versioned: bool  # a git repository: `app update` can work with it


def packaged_version() -> str:
    return (PACKAGED_TEMPLATE / "VERSION").read_text().strip()


def cache_path() -> Path:
    return cache_root() / "templates" / DEFAULT_NAME


def _portable(path: Path) -> str:
    """`~/...` when the path is under the home directory (copier expands it), else the path."""
    home = Path.home()
    try:
        return "~/" + str(path.relative_to(home))
    except ValueError:
        return str(path)


def _sync_tree(source: Path, dest: Path) -> None:
    """Make `dest`'s files (outside .git) exactly `source`'s."""
    for entry in dest.iterdir():
        if entry.name == ".git":
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    shutil.copytree(source, dest, dirs_exist_ok=True, ignore=shutil.ignore_patterns(*_NOT_TEMPLATE))


def default_template() -> TemplateSource:
    """The packaged template as a tagged git repository in the cache (made or brought up to date)."""
    version = packaged_version()
    tag = f"v{version}"
    repo = cache_path()
    repo.mkdir(parents=True, exist_ok=True)
    if not (repo / ".git").is_dir():
        gitcmd.git(repo, "init", "--quiet", "--initial-branch", "main")
    _sync_tree(PACKAGED_TEMPLATE, repo)
    env = dict(gitcmd.GRIPCTL_IDENTITY)
    gitcmd.git(repo, "add", "--all", ".", env=env)
    changed = bool(gitcmd.git(repo, "status", "--porcelain").stdout.strip())
    has_tag = gitcmd.git(repo, "rev-parse", "--verify", "--quiet", f"refs/tags/{tag}", check=False).ok
    if changed or gitcmd.head(repo) is None:
        gitcmd.git(
            repo, "commit", "--quiet", "--allow-empty", "-m", f"gripctl default template {tag}", env=env
        )
    if changed or not has_tag:
        # A changed tree under an existing tag is a template edited without a VERSION bump (a
        # developer's checkout): the tag follows the files, so what is rendered is what ships.
        gitcmd.git(repo, "tag", "--force", tag, env=env)
    return TemplateSource(src=_portable(repo), ref=tag, is_default=True, versioned=True)


def is_default_source(src: str) -> bool:
    """True when an answers file's `_src_path` names the default template's cache (here or elsewhere)."""
    expanded = Path(os.path.expanduser(src)) if not _is_url(src) else None
    if expanded is not None and expanded.resolve() == cache_path().resolve():
        return True
    return src.rstrip("/").endswith(f"gripctl/templates/{DEFAULT_NAME}")


def _is_url(src: str) -> bool:
    return "://" in src or src.startswith(("git@", "gh:", "gl:", "git+"))


def resolve(template: str | None, root: Path) -> TemplateSource:
    """The template for `new app`: None is the default; a path (relative to `root` or the current
    directory) or a git URL is a team's own."""
    if template is None or template == DEFAULT_NAME:
        return default_template()
    if _is_url(template):
        return TemplateSource(src=template, ref=None, is_default=False, versioned=True)
    path = Path(os.path.expanduser(template))
    candidates = [path] if path.is_absolute() else [Path.cwd() / path, root / path]
    for candidate in candidates:
        if candidate.is_dir():
            if not any((candidate / name).is_file() for name in ("copier.yml", "copier.yaml")):
                raise UsageError(
                    f"template {template!r} has no copier.yml",
                    hint="a template is a folder (or git repository) with a copier.yml at its top",
                )
            top = gitcmd.toplevel(candidate)
            versioned = top is not None and top.resolve() == candidate.resolve()
            return TemplateSource(
                src=str(candidate.resolve()), ref=None, is_default=False, versioned=versioned
            )
    raise UsageError(
        f"template {template!r} does not exist",
        hint="pass a folder with a copier.yml, a git URL, or leave --template out for the default template",
    )
