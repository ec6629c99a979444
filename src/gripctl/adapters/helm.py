"""The `helm` v4 binary as typed Python calls. Thin: builds argv, parses JSON output, raises ToolError.

Values from secrets are passed as `stdin` and reach helm as `--values -`: they never touch disk.
Every call takes a `KubeTarget` so the environment's kubeconfig/context are explicit, never implied.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gripctl.adapters.process import Completed, run, run_async
from gripctl.errors import ToolError

DESCRIPTION_MAX = 256  # helm rollback refuses longer (action.MaxDescriptionLength); upgrades keep to it


@dataclass(frozen=True)
class KubeTarget:
    """Which cluster helm talks to."""

    context: str | None = None
    kubeconfig: Path | None = None

    def args(self) -> list[str]:
        out: list[str] = []
        if self.kubeconfig is not None:
            out += ["--kubeconfig", str(self.kubeconfig)]
        if self.context:
            out += ["--kube-context", self.context]
        return out


@dataclass(frozen=True)
class Values:
    """The values of one release, lowest precedence first; `stdin_yaml` is merged after the files."""

    files: Sequence[Path] = ()
    stdin_yaml: bytes | None = None  # decrypted secrets, in memory only
    set_values: dict[str, str] = field(default_factory=dict)

    def args(self) -> list[str]:
        out: list[str] = []
        for f in self.files:
            out += ["--values", str(f)]
        if self.stdin_yaml is not None:
            out += ["--values", "-"]
        for key, value in self.set_values.items():
            out += ["--set", f"{key}={value}"]
        return out


@dataclass(frozen=True)
class HistoryEntry:
    revision: int
    status: str  # deployed, failed, superseded, pending-install, pending-upgrade, pending-rollback, ...
    chart: str  # name-version
    app_version: str
    updated: str
    description: str


def template(
    name: str, chart: Path, namespace: str, values: Values, *, kube_version: str | None = None
) -> str:
    """Render a chart offline (`helm template`); returns the multi-document manifest."""
    args = ["template", name, str(chart), "--namespace", namespace, *values.args()]
    if kube_version:
        args += ["--kube-version", kube_version]
    return run("helm", args, stdin=values.stdin_yaml).stdout


async def template_async(
    name: str, chart: Path, namespace: str, values: Values, *, kube_version: str | None = None
) -> str:
    args = ["template", name, str(chart), "--namespace", namespace, *values.args()]
    if kube_version:
        args += ["--kube-version", kube_version]
    return (await run_async("helm", args, stdin=values.stdin_yaml)).stdout


async def lint_async(chart: Path, values: Values) -> Completed:
    """`helm lint`; not raising: the caller turns its messages into findings."""
    return await run_async("helm", ["lint", str(chart), *values.args()], stdin=values.stdin_yaml, check=False)


async def rollback(
    name: str,
    namespace: str,
    target: KubeTarget,
    *,
    revision: int | None = None,
    timeout_seconds: int = 300,
    description: str | None = None,
) -> Completed:
    """`helm rollback` to `revision` (default: the previous one)."""
    args = ["rollback", name]
    if revision is not None:
        args.append(str(revision))
    if description:
        args += ["--description", description[:DESCRIPTION_MAX]]
    args += [
        "--namespace",
        namespace,
        "--server-side",
        "auto",
        # The revision rolled back to wins over fields someone changed by hand since (server-side
        # apply would otherwise refuse with a conflict against their field manager).
        "--force-conflicts",
        "--timeout",
        f"{timeout_seconds}s",
        *target.args(),
    ]
    return await run_async("helm", args)


async def uninstall(
    name: str, namespace: str, target: KubeTarget, *, timeout_seconds: int = 300
) -> Completed:
    args = ["uninstall", name, "--namespace", namespace, "--timeout", f"{timeout_seconds}s", *target.args()]
    return await run_async("helm", args)


async def history(
    name: str, namespace: str, target: KubeTarget, *, max_entries: int = 20
) -> list[HistoryEntry]:
    """Release history, oldest first; empty when the release does not exist."""
    result = await run_async(
        "helm",
        [
            "history",
            name,
            "--namespace",
            namespace,
            "--max",
            str(max_entries),
            "--output",
            "json",
            *target.args(),
        ],
        check=False,
    )
    if not result.ok:
        if history_not_found(result.stderr):
            return []
        raise ToolError(f"helm history {name} -n {namespace} failed: {result.stderr.strip()}")
    return parse_history(result.stdout)


def history_not_found(stderr: str) -> bool:
    """Whether a failed `helm history` says the release does not exist (then it has no history)."""
    return "release: not found" in stderr or "not found" in stderr.lower()


def parse_history(stdout: str) -> list[HistoryEntry]:
    """`helm history --output json` as entries."""
    rows: list[dict[str, Any]] = json.loads(stdout or "[]")
    return [
        HistoryEntry(
            revision=int(r["revision"]),
            status=str(r.get("status", "")),
            chart=str(r.get("chart", "")),
            app_version=str(r.get("app_version", "")),
            updated=str(r.get("updated", "")),
            description=str(r.get("description", "")),
        )
        for r in rows
    ]


async def get_manifest(name: str, namespace: str, target: KubeTarget, *, revision: int | None = None) -> str:
    args = ["get", "manifest", name, "--namespace", namespace, *target.args()]
    if revision is not None:
        args += ["--revision", str(revision)]
    return (await run_async("helm", args)).stdout


async def get_values(
    name: str, namespace: str, target: KubeTarget, *, revision: int | None = None
) -> dict[str, Any]:
    """The user-supplied values of a release (may contain secrets: callers must mask before showing)."""
    args = ["get", "values", name, "--namespace", namespace, "--output", "json", *target.args()]
    if revision is not None:
        args += ["--revision", str(revision)]
    return parse_values((await run_async("helm", args)).stdout)


def parse_values(stdout: str) -> dict[str, Any]:
    """`helm get values --output json` as a mapping (helm prints `null` for a release without values)."""
    data = json.loads(stdout or "null")
    return data if isinstance(data, dict) else {}


# The state filters `list_releases` names: every state a release can be in except `uninstalled`.
LIST_STATES = ("deployed", "failed", "pending", "superseded", "uninstalling")
LIST_MAX = 100000


async def list_releases(namespace: str | None, target: KubeTarget) -> list[dict[str, Any]]:
    """Releases in every live state: deployed, failed, pending-*, superseded, uninstalling (helm 4 has no
    `--all`; naming every state filter is how to ask for all of them)."""
    states = [f"--{state}" for state in LIST_STATES]
    args = ["list", *states, "--max", str(LIST_MAX), "--output", "json", *target.args()]
    args += ["--namespace", namespace] if namespace else ["--all-namespaces"]
    rows: list[dict[str, Any]] = json.loads((await run_async("helm", args)).stdout or "[]")
    return rows


# --- validate (appended for gripctl validate) -------------------------------------------------------


async def template_check_async(
    name: str,
    chart: Path,
    namespace: str,
    values: Values,
    *,
    kube_version: str | None = None,
    include_crds: bool = True,
) -> Completed:
    """`helm template` that does not raise: validate turns a failed render into a finding."""
    args = ["template", name, str(chart), "--namespace", namespace, *values.args()]
    if include_crds:
        args.append("--include-crds")
    if kube_version:
        args += ["--kube-version", kube_version]
    return await run_async("helm", args, stdin=values.stdin_yaml, check=False)


async def lint_many_async(
    charts: Sequence[Path], values: Values, *, kube_version: str | None = None
) -> Completed:
    """`helm lint` of several charts that share the same values, in one process (helm's start-up cost
    dominates a lint); output has one `==> Linting <path>` section per chart. Not raising."""
    args = ["lint", *map(str, charts), *values.args()]
    if kube_version:
        args += ["--kube-version", kube_version]
    return await run_async("helm", args, stdin=values.stdin_yaml, check=False)


async def install_dry_run_server_async(
    name: str, chart: Path, namespace: str, values: Values, target: KubeTarget
) -> Completed:
    """`helm install --dry-run=server --output json`: renders and has the cluster validate every object
    without persisting anything. The JSON release carries the rendered `manifest`. Not raising."""
    args = [
        "install", name, str(chart),
        "--namespace", namespace,
        "--dry-run=server",
        "--output", "json",
        *values.args(),
        *target.args(),
    ]  # fmt: skip
    return await run_async("helm", args, stdin=values.stdin_yaml, check=False)


async def render_release_manifest_async(
    name: str,
    chart: Path,
    namespace: str,
    values: Values,
    *,
    kube_version: str | None = None,
    is_upgrade: bool = False,
) -> str:
    """`helm template` shaped like the manifest helm stores for a release (what `helm get manifest`
    returns): hooks left out (helm stores them apart), `--is-upgrade` when the release exists, so that
    both sides of a diff are rendered the same way."""
    args = ["template", name, str(chart), "--namespace", namespace, "--no-hooks", *values.args()]
    if kube_version:
        args += ["--kube-version", kube_version]
    if is_upgrade:
        args.append("--is-upgrade")
    return (await run_async("helm", args, stdin=values.stdin_yaml)).stdout


# --- engine (appended for gripctl deploy) -----------------------------------------------------------


def upgrade_flags(
    *, timeout_seconds: int, create_namespace: bool, description: str | None
) -> dict[str, str | bool]:
    """The flags of every `helm upgrade --install` gripctl runs, by name (`_` for `-`): the helm binary's
    argv (`flag_args`) and gripctl-helmd's request (adapters/helmd.py) are both made from them."""
    flags: dict[str, str | bool] = {
        "install": True,
        "server_side": "true",
        # The repository is the source of truth: fields changed by hand (`kubectl edit`, `scale`) are
        # taken back instead of failing the upgrade with a server-side apply conflict. A field another
        # controller should own (an HPA's replicas) belongs out of the chart (docs/drift.md).
        "force_conflicts": True,
        # The API server validates every applied object strictly (helm sends fieldValidation=Strict
        # with server-side apply); helm's own client-side check only downloads and parses the
        # cluster's OpenAPI document again, which was ~40% of helm's CPU per upgrade.
        "disable_openapi_validation": True,
        "wait": "hookOnly",  # gripctl verifies health itself (engine/verify.py)
        "timeout": f"{timeout_seconds}s",
    }
    if create_namespace:
        flags["create_namespace"] = True
    if description:
        flags["description"] = description[:DESCRIPTION_MAX]
    return flags


def flag_args(flags: dict[str, str | bool]) -> list[str]:
    """`--name` for a flag that is on, `--name=value` otherwise: `--wait hookOnly` would parse as `--wait`
    (=watcher) plus a stray argument."""
    return [
        f"--{name.replace('_', '-')}" + ("" if value is True else f"={value}")
        for name, value in flags.items()
    ]


async def upgrade_install_release(
    name: str,
    chart: Path,
    namespace: str,
    values: Values,
    target: KubeTarget,
    *,
    timeout_seconds: int,
    create_namespace: bool = True,
    description: str | None = None,
) -> dict[str, Any]:
    """`upgrade_install` with `--output json`: returns helm's release record (`version` is the new
    revision, `manifest` the applied objects), saving a `helm get manifest` per deploy."""
    flags = upgrade_flags(
        timeout_seconds=timeout_seconds, create_namespace=create_namespace, description=description
    )
    args = [
        "upgrade", *flag_args(flags), name, str(chart),
        "--namespace", namespace,
        "--output", "json",
        *values.args(),
        *target.args(),
    ]  # fmt: skip
    out = (await run_async("helm", args, stdin=values.stdin_yaml)).stdout
    data = json.loads(out or "{}")
    return data if isinstance(data, dict) else {}
