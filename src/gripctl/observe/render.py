"""Render the desired state of a release: `helm template` with gripctl's values layering, plus the
digests of everything the render was made from (chart files, values files, secrets, --set values).

Layering, lowest first (docs/config.md): chart values.yaml (helm applies it), values files, decrypted
secrets (piped to helm on stdin, never written to disk), then --set values. The same layering is
merged here in memory to get the *user values* helm will record, so that they can be compared with
`helm get values` of the live release.
"""

from __future__ import annotations

import asyncio
import functools
import re
from pathlib import Path
from typing import Any

from gripctl import yamlio as yaml
from gripctl.adapters import helm, helmd
from gripctl.digest import (
    canonical_json,
    secrets_digest,
    sha256_bytes,
    sha256_text,
    tree_digest,
    values_digest,
)
from gripctl.errors import ConfigError, Location, ToolError
from gripctl.helmvalues import deep_merge, leaf_paths, parse_set_values
from gripctl.model.types import Platform, Release
from gripctl.observe.types import DesiredRelease
from gripctl.secrets.values import mask, merged_values, secret_leaves  # the secrets room owns both rules


@functools.lru_cache(maxsize=16)
def _resolved_root(root: Path) -> Path:
    return root.resolve()  # one platform root per plan, asked for once per release and input


def display_path(path: Path, root: Path) -> str:
    """A repository-relative path for messages and input names; absolute when outside the repository."""
    try:
        return path.resolve().relative_to(_resolved_root(root)).as_posix()
    except ValueError:
        return str(path)


def _load_values_file(path: Path, root: Path, release: Release) -> dict[str, Any]:
    where = display_path(path, root)
    if not path.is_file():
        raise ConfigError(
            f"values file {where} of release {release.id} does not exist",
            hint="create it, or remove it from the release's values in gripctl.yaml",
        )
    try:
        data = yaml.safe_load_strict(path.read_bytes())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        raise ConfigError(
            f"values file is not valid YAML: {exc.problem}",
            location=Location(where, mark.line + 1 if mark else None, mark.column + 1 if mark else None),
            hint="fix the YAML syntax, then re-run",
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"values file {where} must hold a mapping at the top, not {type(data).__name__}",
            location=Location(where, 1),
        )
    return data


def user_values(platform: Platform, release: Release, decrypted: bytes | None) -> dict[str, Any]:
    """The merged user values helm records for `release` in `platform`'s environment: its values files
    in order, then the decrypted secrets, then `set:` (the chart's own values.yaml is helm's to add).
    Holds secrets: keep it in memory, hash it (`values_digest`), never print it."""
    root = platform.root
    merged: dict[str, Any] = {}
    for f in release.values_files:
        merged = deep_merge(merged, _load_values_file(f if f.is_absolute() else root / f, root, release))
    if decrypted is not None:
        secret_data = yaml.safe_load(decrypted) or {}
        if isinstance(secret_data, dict):
            merged = deep_merge(merged, secret_data)
    if release.set_values:
        merged = deep_merge(merged, parse_set_values(release.set_values))
    return merged


def _chart_meta(chart: Path, root: Path, release: Release) -> tuple[str, str]:
    chart_yaml = chart / "Chart.yaml"

    def where() -> str:  # only for an error message: resolving it per chart costs at 300 releases
        return display_path(chart_yaml, root)

    if not chart_yaml.is_file():
        raise ConfigError(
            f"release {release.id}: {where()} does not exist",
            hint="is chart_path the chart folder?",
        )
    text = chart_yaml.read_bytes()
    try:
        meta = yaml.safe_load_strict(text) or {}
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        raise ConfigError(
            f"not valid YAML: {exc.problem}",
            location=Location(where(), mark.line + 1 if mark else None, mark.column + 1 if mark else None),
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", location=Location(where())) from None
    if not isinstance(meta, dict) or not meta.get("name") or not meta.get("version"):
        raise ConfigError(f"{where()} needs `name` and `version`", location=Location(where(), 1))
    # helm's own checks of Chart.yaml, said here with the file and line (helm's words name neither).
    if str(meta.get("apiVersion")) not in ("v1", "v2"):
        raise ConfigError(
            f"chart apiVersion {meta.get('apiVersion')!r} is not v1 or v2",
            location=Location(where(), _line_of(text, "apiVersion")),
            hint="Helm 3 and 4 charts say `apiVersion: v2`",
        )
    if not _SEMVER.match(str(meta["version"])):
        raise ConfigError(
            f"chart version {meta['version']!r} is not a SemVer version",
            location=Location(where(), _line_of(text, "version")),
            hint="helm requires versions such as 1.2.3 (https://semver.org)",
        )
    return str(meta["name"]), str(meta["version"])


# What helm accepts as a chart version (Masterminds/semver's loose form: "v" and missing parts allowed).
_SEMVER = re.compile(r"^v?\d+(\.\d+){0,2}(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")


def _line_of(text: bytes, key: str) -> int | None:
    """The line of a top-level `key:` in a small YAML file."""
    for number, line in enumerate(text.decode(errors="replace").splitlines(), 1):
        if line.startswith(f"{key}:"):
            return number
    return None


async def render_desired(
    platform: Platform, release: Release, *, kube_version: str | None = None, is_upgrade: bool = False
) -> DesiredRelease:
    """The release as the repository wants it. Reads files and runs `helm template`; no cluster access.

    `kube_version` (the live server's) and `is_upgrade` (the release exists) make the render match what
    `helm upgrade` would store, so that an unchanged release diffs empty.
    """
    root = platform.root
    chart = release.chart_path if release.chart_path.is_absolute() else root / release.chart_path
    chart_name, version = _chart_meta(chart, root, release)
    files = [f if f.is_absolute() else root / f for f in release.values_files]
    inputs: dict[str, str] = {f"chart {display_path(chart, root)}": tree_digest(chart)}

    for f in files:
        _load_values_file(f, root, release)  # a missing or broken file: its ConfigError, before sops runs
        inputs[f"values file {display_path(f, root)}"] = sha256_bytes(f.read_bytes())

    decrypted = await asyncio.to_thread(merged_values, release.secrets, root)  # sops: off the loop
    merged = user_values(platform, release, decrypted)
    secret_values: frozenset[str] = frozenset()
    secret_paths: frozenset[str] = frozenset()
    if decrypted is not None:
        secret_data = yaml.safe_load(decrypted) or {}
        if isinstance(secret_data, dict):
            secret_paths = frozenset(p for p, _ in leaf_paths(secret_data))
        secret_values = frozenset(secret_leaves(decrypted))
        inputs[f"secrets {release.id}"] = secrets_digest(decrypted)
    if release.set_values:
        inputs[f"set values {release.id}"] = sha256_text(canonical_json(release.set_values))

    values = helm.Values(files=files, stdin_yaml=decrypted, set_values=dict(release.set_values))
    try:
        manifest = await helmd.render_release_manifest_async(
            release.name, chart, release.namespace, values, kube_version=kube_version, is_upgrade=is_upgrade
        )
    except ToolError as exc:
        detail = mask(exc.message, secret_values)  # helm may echo a value back in its error
        raise ToolError(
            f"release {release.id}: rendering chart {display_path(chart, root)} failed: {detail}",
            hint=f"reproduce with `helm template {release.name} {display_path(chart, root)}` and the "
            "release's values files; fix the template or values",
        ) from None
    return DesiredRelease(
        release_id=release.id,
        manifest=manifest,
        chart_name=chart_name,
        chart_version=version,
        values_digest=values_digest(merged),
        values=merged,
        secret_values=secret_values,
        secret_paths=secret_paths,
        inputs=inputs,
        decrypted=decrypted,
    )
