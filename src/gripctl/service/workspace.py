"""What every operation starts from: the platform of one environment, a selection of its releases,
and the ledger. Light: reading the ledger imports no Kubernetes client (service/world.py does)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from gripctl.adapters import git
from gripctl.errors import UsageError
from gripctl.ledger.store import Ledger, open_ledger
from gripctl.model.changes import CONFIG_FILE, parse_previous_config, touched_releases
from gripctl.model.graph import Graph
from gripctl.model.loader import load_platform
from gripctl.model.selection import Selection, select
from gripctl.model.types import Platform


def fingerprint(root: Path) -> tuple[object, ...]:
    """What a loaded platform depends on, cheaply: gripctl.yaml's size and time, and the times of the
    folders under ops/ and envs/ (a release added, removed or renamed; an environment's values file
    added). Changing it makes a long-running process load the platform again."""
    marks: list[object] = []
    config = root / "gripctl.yaml"
    try:
        st = config.stat()
        marks.append((st.st_mtime_ns, st.st_size))
    except OSError:
        marks.append(None)
    for top in ("ops", "envs"):
        base = root / top
        if not base.is_dir():
            continue
        marks.append(base.stat().st_mtime_ns)
        for child in sorted(base.iterdir()):
            if child.is_dir():
                marks.append((child.name, child.stat().st_mtime_ns))
    return tuple(marks)


_PLATFORMS: dict[tuple[Path, str | None], tuple[tuple[object, ...], Platform]] = {}


def load(root: Path, environment: str | None) -> Platform:
    """The platform for one environment. A long-running process (`keep_ledgers_open`) keeps what it
    loaded until the repository's `fingerprint` changes; a command loads it once anyway."""
    if _OPEN is None:
        return load_platform(root, environment)
    key = (root, environment)
    mark = fingerprint(root)
    hit = _PLATFORMS.get(key)
    if hit is not None and hit[0] == mark:
        return hit[1]
    platform = load_platform(root, environment)
    _PLATFORMS[key] = (mark, platform)
    return platform


def changes_since(platforms: Sequence[Platform], ref: str) -> dict[str, str]:
    """Release id -> why it is touched by what changed between `ref` and the work tree, over the given
    environments' views of one platform (model/changes.py has the rule)."""
    root = platforms[0].root
    if git.toplevel(root) is None:
        raise UsageError(
            f"--changed-since needs a git repository, and {root} is not in one",
            hint="run gripctl inside the platform's git checkout, or leave --changed-since out",
        )
    commit = git.commit_of(root, ref)
    if commit is None:
        raise UsageError(
            f"--changed-since {ref}: git knows no such commit in {root}",
            hint="check the name (`git log --oneline`); in CI fetch the history first "
            "(actions/checkout with fetch-depth: 0, or `git fetch origin main`)",
        )
    paths = git.changed_paths(root, commit)
    previous = parse_previous_config(git.show(root, commit, CONFIG_FILE), ref)
    found: dict[str, str] = {}
    for platform in platforms:
        for rid, why in touched_releases(platform, paths, previous).items():
            found.setdefault(rid, why)
    return {rid: found[rid] for rid in platforms[0].releases if rid in found}


def selected(
    platform: Platform,
    selection: Selection,
    *,
    allow_empty: bool = False,
    changed: Mapping[str, str] | None = None,
) -> list[str]:
    """The selected release ids in topological order; an empty selection is a usage error, except
    with --changed-since (nothing changed is an answer). `changed`: `changes_since`, when the caller
    already has it."""
    if selection.changed_since and changed is None:
        changed = changes_since([platform], selection.changed_since)
    ids = select(
        platform,
        Graph.from_platform(platform),
        only=list(selection.only),
        include_needs=selection.include_needs,
        include_dependents=selection.include_dependents,
        selectors=list(selection.selectors),
        changed=list(changed) if selection.changed_since and changed is not None else None,
    )
    if not ids and not allow_empty and not selection.changed_since:
        raise UsageError(
            "the selection matches no release", hint="check --only/--selector against `gripctl graph`"
        )
    return ids


# A long-running process (the server) keeps one Ledger (one connection pool) per database instead of
# connecting and checking the schema on every call; a command line opens it once anyway.
_OPEN: dict[str, Ledger] | None = None


def keep_ledgers_open() -> None:
    """From now on, `ledger_of` hands out one shared Ledger per database URL, and `load` keeps the
    platforms it loaded while the repository is unchanged (called by `serve`)."""
    global _OPEN
    if _OPEN is None:
        _OPEN = {}


def close_ledgers() -> None:
    """Close the shared ledgers and go back to one per call (a server shut down in a test process)."""
    global _OPEN
    for ledger in (_OPEN or {}).values():
        ledger.close()
    _OPEN = None
    _PLATFORMS.clear()


def ledger_of(platform: Platform | Path) -> Ledger:
    root = platform.root if isinstance(platform, Platform) else platform
    if _OPEN is None:
        return open_ledger(root=root)
    from gripctl.ledger.db import resolve_url

    url = resolve_url(None, root)
    if url not in _OPEN:
        _OPEN[url] = open_ledger(url)
    return _OPEN[url]
