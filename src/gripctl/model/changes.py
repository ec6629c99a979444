"""Which releases a set of changed files touches: the rule behind `--changed-since REF`. Reads files only.

Given the paths that differ between REF and the working tree (relative to the platform root) and
gripctl.yaml as it was at REF, a release is touched when any of these changed:

- a file in its chart folder, or in a local chart its Chart.yaml depends on (`file://../lib`);
- one of its values files in this environment (the environment's own and its per-release ones,
  `envs/<env>/<id>.yaml` included, also when that file was added or deleted);
- its secrets (`values.sops.yaml` lives in the secrets release's chart folder);
- its entry under `releases:` in gripctl.yaml.

A change to `defaults`, `environments`, `charts`, `secrets` or `policies` in gripctl.yaml touches every
release (they can change any release's values, placement or checks), as does a gripctl.yaml that did not
exist at REF. The caller adds the dependents of what is touched (docs/config.md, "Selecting releases").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from gripctl import yamlio as yaml
from gripctl.errors import ConfigError
from gripctl.model.types import Platform, Release
from gripctl.model.yamlfile import parse_yaml

CONFIG_FILE = "gripctl.yaml"
# Keys of gripctl.yaml whose change may alter any release.
PLATFORM_WIDE_KEYS = ("apiVersion", "defaults", "environments", "charts", "secrets", "policies")


def touched_releases(
    platform: Platform, changed: Iterable[str], previous_config: Mapping[str, Any] | None
) -> dict[str, str]:
    """Release id -> the first reason it is touched, in the platform's release order.

    `changed`: POSIX paths relative to the platform root. `previous_config`: gripctl.yaml at REF as
    parsed YAML, or None when it did not exist there."""
    paths = {PurePosixPath(p) for p in changed}
    reasons: dict[str, str] = {}
    if PurePosixPath(CONFIG_FILE) in paths:
        reasons.update(_config_changes(platform, previous_config))
    for release in platform.releases.values():
        if release.id in reasons:
            continue
        found = _file_reason(platform, release, paths)
        if found is not None:
            reasons[release.id] = found
    return {rid: reasons[rid] for rid in platform.releases if rid in reasons}


def _relative(platform: Platform, path: Path) -> PurePosixPath | None:
    full = path if path.is_absolute() else platform.root / path
    try:
        return PurePosixPath(full.resolve().relative_to(platform.root.resolve()).as_posix())
    except ValueError:  # outside the repository: git cannot report it changed
        return None


def _under(path: PurePosixPath, folder: PurePosixPath) -> bool:
    return path == folder or folder in path.parents


def _chart_folders(platform: Platform, release: Release) -> list[PurePosixPath]:
    """The release's chart folder and the local charts it depends on (file:// in Chart.yaml), transitively."""
    chart = release.chart_path if release.chart_path.is_absolute() else platform.root / release.chart_path
    folders: list[PurePosixPath] = []
    pending = [chart]
    seen: set[Path] = set()
    while pending:
        folder = pending.pop().resolve()
        if folder in seen:
            continue
        seen.add(folder)
        if (relative := _relative(platform, folder)) is not None:
            folders.append(relative)
        pending += [folder / dep for dep in _local_dependencies(folder / "Chart.yaml")]
    return folders


def _local_dependencies(chart_yaml: Path) -> list[str]:
    try:
        meta = yaml.safe_load(chart_yaml.read_bytes())
    except (OSError, yaml.YAMLError):
        return []  # validate reports a broken Chart.yaml; here it only has no dependencies
    deps = meta.get("dependencies") if isinstance(meta, dict) else None
    out = []
    for dep in deps if isinstance(deps, list) else []:
        repo = dep.get("repository") if isinstance(dep, dict) else None
        if isinstance(repo, str) and repo.startswith("file://"):
            out.append(repo.removeprefix("file://"))
    return out


def _file_reason(platform: Platform, release: Release, paths: set[PurePosixPath]) -> str | None:
    for folder in _chart_folders(platform, release):
        hit = next((p for p in sorted(paths) if _under(p, folder)), None)
        if hit is not None:
            what = "secrets" if hit.name.endswith(".sops.yaml") else "chart"
            return f"{what} changed: {hit}"
    for source in release.secrets:
        relative = _relative(platform, source.path)
        if relative in paths:
            return f"secrets changed: {relative}"
    for values_file in release.values_files:
        relative = _relative(platform, values_file)
        if relative in paths:
            return f"values changed: {relative}"
    # An envs/<env>/<id>.yaml that was deleted is no longer among the values files, yet it changed them.
    implicit = PurePosixPath("envs", platform.environment.name, f"{release.id}.yaml")
    if implicit in paths:
        return f"values changed: {implicit}"
    return None


def _config_changes(platform: Platform, previous: Mapping[str, Any] | None) -> dict[str, str]:
    everything = list(platform.releases)
    if not isinstance(previous, Mapping):
        return dict.fromkeys(everything, f"{CONFIG_FILE} is new")
    current = platform.raw
    for key in PLATFORM_WIDE_KEYS:
        if current.get(key) != previous.get(key):
            return dict.fromkeys(everything, f"{CONFIG_FILE} `{key}` changed")
    now, before = _mapping(current.get("releases")), _mapping(previous.get("releases"))
    return {rid: f"its {CONFIG_FILE} entry changed" for rid in everything if now.get(rid) != before.get(rid)}


def parse_previous_config(text: str | None, ref: str) -> Mapping[str, Any] | None:
    """gripctl.yaml as it was at REF (its text from git), parsed by the same YAML rules as today's."""
    if text is None:
        return None
    try:
        data = parse_yaml(text, f"{CONFIG_FILE} at {ref}").data
    except ConfigError:
        return None  # unparsable then: compare as if it were new, so every release is touched
    return data if isinstance(data, Mapping) else None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
