"""The up-front cluster check: a missing context or an unreachable API server is one ClusterError with
the context's name and the next step, raised before any helm call or render."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
import yaml
from observe_helpers import one_release_platform

from gripctl.adapters.helm import KubeTarget
from gripctl.errors import ClusterError
from gripctl.observe.cluster import check_cluster
from gripctl.observe.snapshot import snapshot


def write_kubeconfig(path: Path, server: str = "https://127.0.0.1:1") -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": server, "insecure-skip-tls-verify": True}}],
                "users": [{"name": "u", "user": {"token": "not-a-real-token"}}],
                "contexts": [{"name": "known", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "known",
            }
        )
    )
    return path


async def test_missing_context_names_it_and_lists_the_known_ones(tmp_path: Path) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig")
    with pytest.raises(ClusterError) as err:
        await check_cluster(KubeTarget(context="production-eu", kubeconfig=kubeconfig))
    assert err.value.message == f"kubeconfig context 'production-eu' not found in {kubeconfig} (known: known)"
    assert err.value.hint is not None
    assert "kubectl config get-contexts" in err.value.hint and "gripctl sandbox up" in err.value.hint


async def test_missing_kubeconfig_file(tmp_path: Path) -> None:
    with pytest.raises(ClusterError) as err:
        await check_cluster(KubeTarget(context="x", kubeconfig=tmp_path / "nope"))
    assert "no kubeconfig found" in err.value.message and "'x'" in err.value.message


async def test_unreachable_cluster_fails_fast_with_the_context_and_server(tmp_path: Path) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig")
    started = time.monotonic()
    with pytest.raises(ClusterError) as err:
        await check_cluster(KubeTarget(context="known", kubeconfig=kubeconfig), timeout_seconds=3)
    assert time.monotonic() - started < 10
    assert err.value.message.startswith(
        "the Kubernetes cluster of context 'known' (https://127.0.0.1:1) is unreachable"
    )
    assert err.value.message.endswith("(Connection refused): is the cluster up?"), err.value.message
    assert err.value.hint is not None and "kubectl --context known cluster-info" in err.value.hint


async def test_snapshot_checks_the_cluster_before_rendering_anything(tmp_path: Path) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig")
    platform = one_release_platform(tmp_path / "repo", context="missing", kubeconfig=kubeconfig)
    shutil.rmtree(platform.release("010-web").chart_path)  # a render would fail with a ConfigError
    with pytest.raises(ClusterError) as err:
        await snapshot(platform, ["010-web"])
    assert "'missing' not found" in err.value.message
