"""A snapshot of a selection: each release observed on the cluster and rendered from the repository."""

from __future__ import annotations

import asyncio
from pathlib import Path

from gripctl.adapters import helmd
from gripctl.adapters.helm import KubeTarget
from gripctl.adapters.process import run
from gripctl.digest import sha256_bytes
from gripctl.errors import SecretsError, ToolMissingError
from gripctl.model.types import Platform, Release
from gripctl.observe.cluster import check_cluster
from gripctl.observe.release import observe_release
from gripctl.observe.render import display_path, render_desired
from gripctl.observe.types import DesiredRelease, ObservedRelease, ReleaseStatus, Snapshot


def target_for(platform: Platform) -> KubeTarget:
    env = platform.environment
    kubeconfig = env.kubeconfig
    if kubeconfig is not None and not kubeconfig.is_absolute():
        kubeconfig = platform.root / kubeconfig
    return KubeTarget(context=env.context, kubeconfig=kubeconfig)


def git_commit(root: Path) -> str | None:
    """HEAD of the platform repository (with `+dirty` when it has uncommitted changes), or None."""
    try:
        head = run("git", ["rev-parse", "HEAD"], cwd=str(root), check=False)
        if not head.ok:
            return None
        dirty = run("git", ["status", "--porcelain", "--untracked-files=no"], cwd=str(root), check=False)
    except ToolMissingError:
        return None
    return head.stdout.strip() + ("+dirty" if dirty.ok and dirty.stdout.strip() else "")


async def _one(
    platform: Platform,
    release: Release,
    target: KubeTarget,
    kube_version: str,
    gate: asyncio.Semaphore,
    existing: set[tuple[str, str]],
    secrets_optional: bool,
) -> tuple[ObservedRelease, DesiredRelease | str]:
    async with gate:
        if (release.namespace, release.name) in existing:
            observed = await observe_release(release, target)
        else:  # not in `helm list --all`: absent, no need to ask for its history
            observed = ObservedRelease(release.id, release.name, release.namespace, ReleaseStatus.absent)
        # Rendered like the live revision was, so that an unchanged release diffs empty: revision 1 was
        # rendered by an install (.Release.IsInstall), later ones by upgrades (.Release.IsUpgrade).
        is_upgrade = observed.exists and (observed.manifest_revision or 1) > 1
        try:
            desired = await render_desired(
                platform, release, kube_version=kube_version, is_upgrade=is_upgrade
            )
        except SecretsError as exc:
            if not secrets_optional:
                raise
            return observed, exc.message  # e.g. no age key here: the release's state is still known
        return observed, desired


async def snapshot(
    platform: Platform,
    release_ids: list[str],
    target: KubeTarget | None = None,
    *,
    concurrency: int = 4,
    kube_version: str | None = None,
    secrets_optional: bool = False,
) -> Snapshot:
    """Observe and render every selected release, `concurrency` at a time.

    The cluster is checked first (unless the caller just did and passes its `kube_version`): a missing
    context or an unreachable API server is one ClusterError before any helm call. With
    `secrets_optional`, a release whose secrets cannot be decrypted here is observed but not rendered
    (`Snapshot.undecryptable` says why), for read-only views such as status.
    """
    target = target or target_for(platform)
    kube_version = kube_version or await check_cluster(target)
    releases = [platform.release(rid) for rid in release_ids]
    # One `helm list --all` tells which releases exist at all: a first deploy then costs one helm call
    # per release (the render) instead of two.
    existing = {
        (str(r.get("namespace")), str(r.get("name"))) for r in await helmd.list_releases(None, target)
    }
    gate = asyncio.Semaphore(max(1, concurrency))
    results = await asyncio.gather(
        *(_one(platform, r, target, kube_version, gate, existing, secrets_optional) for r in releases)
    )
    inputs = {}
    if platform.config_path.is_file():
        inputs[display_path(platform.config_path, platform.root)] = sha256_bytes(
            platform.config_path.read_bytes()
        )
    return Snapshot(
        environment=platform.environment.name,
        context=target.context,
        observed={o.release_id: o for o, _ in results},
        desired={d.release_id: d for _, d in results if isinstance(d, DesiredRelease)},
        undecryptable={o.release_id: d for o, d in results if isinstance(d, str)},
        inputs=inputs,
        kube_version=kube_version,
        git_commit=git_commit(platform.root),
    )
