"""Hand-made platforms and snapshots for pure plan tests (no helm, no cluster)."""

from __future__ import annotations

import base64
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from gripctl.digest import values_digest
from gripctl.model.types import Environment, Platform, Release
from gripctl.observe.types import DesiredRelease, ObservedRelease, Snapshot
from gripctl.plan.types import ReleaseStatus
from gripctl.secrets.values import secret_leaves


def make_platform(root: Path, *ids_and_needs: tuple[str, tuple[str, ...]]) -> Platform:
    releases = {}
    for rid, needs in ids_and_needs:
        order, _, name = rid.partition("-")
        releases[rid] = Release(
            id=rid,
            name=name,
            namespace=name,
            chart_path=root / "ops" / "helm" / rid,
            order=int(order),
            needs=needs,
        )
    env = Environment(name="production", context="gripctl-sandbox")
    return Platform(
        root=root,
        config_path=root / "gripctl.yaml",
        environment=env,
        environments={"production": env},
        releases=releases,
    )


def deployment(name: str, *, replicas: int = 1, tag: str = "1.0", args: tuple[str, ...] = ()) -> str:
    obj: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "template": {
                "spec": {"containers": [{"name": "app", "image": f"app:{tag}", "args": list(args)}]}
            },
        },
    }
    return f"---\n# Source: chart/templates/deployment.yaml\n{yaml.safe_dump(obj)}"


def configmap(name: str, data: dict[str, str]) -> str:
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}
    return f"---\n# Source: chart/templates/configmap.yaml\n{yaml.safe_dump(obj)}"


def secret(name: str, data: dict[str, str]) -> str:
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    obj = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name},
        "type": "Opaque",
        "data": encoded,
    }
    return f"---\n# Source: chart/templates/secret.yaml\n{yaml.safe_dump(obj)}"


def observed(
    rid: str,
    status: ReleaseStatus = ReleaseStatus.deployed,
    *,
    manifest: str = "",
    values: dict[str, Any] | None = None,
    revision: int | None = 1,
    helm_status: str | None = None,
    deployed_revision: int | None = None,
    chart_version: str = "0.1.0",
) -> ObservedRelease:
    name = rid.partition("-")[2]
    if status is ReleaseStatus.absent:
        return ObservedRelease(release_id=rid, helm_name=name, namespace=name, status=status)
    return ObservedRelease(
        release_id=rid,
        helm_name=name,
        namespace=name,
        status=status,
        helm_status=helm_status or status.value,
        revision=revision,
        deployed_revision=deployed_revision if deployed_revision is not None else revision,
        manifest_revision=revision,
        chart=f"{name}-{chart_version}",
        chart_version=chart_version,
        updated="2026-11-27T12:03:00Z",
        manifest=manifest,
        values=values or {},
    )


def desired(
    rid: str,
    *,
    manifest: str,
    values: dict[str, Any] | None = None,
    chart_version: str = "0.1.0",
    secrets_yaml: bytes | None = None,
    inputs: dict[str, str] | None = None,
) -> DesiredRelease:
    from gripctl.helmvalues import deep_merge, leaf_paths

    merged = dict(values or {})
    secret_values: frozenset[str] = frozenset()
    secret_paths: frozenset[str] = frozenset()
    if secrets_yaml is not None:
        data = yaml.safe_load(secrets_yaml)
        merged = deep_merge(merged, data)
        secret_values = frozenset(secret_leaves(secrets_yaml))
        secret_paths = frozenset(p for p, _ in leaf_paths(data))
    return DesiredRelease(
        release_id=rid,
        manifest=manifest,
        chart_name=rid.partition("-")[2],
        chart_version=chart_version,
        values_digest=values_digest(merged),
        values=merged,
        secret_values=secret_values,
        secret_paths=secret_paths,
        inputs=inputs if inputs is not None else {f"chart ops/helm/{rid}": "c" * 64},
    )


def make_snapshot(
    obs: list[ObservedRelease], des: list[DesiredRelease], inputs: dict[str, str] | None = None
) -> Snapshot:
    return Snapshot(
        environment="production",
        context="gripctl-sandbox",
        observed={o.release_id: o for o in obs},
        desired={d.release_id: d for d in des},
        inputs=inputs if inputs is not None else {"gripctl.yaml": "a" * 64},
        kube_version="v1.36.3",
        git_commit="abc123",
    )


__all__ = ["replace"]
