"""The API server going away in the middle of a deploy, as its clients see it (apiproxy.py: every
connection reset, new ones refused, then back on the same address).

- Tried as a new user would: the API down when the deploy starts fails it cleanly ("is the cluster
  up?", the server's URL, no traceback), nothing is left `pending-*`, and the next deploy completes.
- An outage shorter than the releases' timeout, while a release is verified or while helm upgrades
  one, is ridden through (calls retried with backoff, watches reconnect): the run succeeds.
- A longer one fails the run cleanly, with the reason; the next deploy completes.
In every case the ledger matches helm afterwards.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from apiproxy import ApiProxy
from chaos_helpers import (
    action_running,
    assert_ledger_matches_helm,
    deploy_cli,
    deployed_version,
    history,
    ledger_of,
    phase_seen,
    when,
)
from engine_platforms import SynthPlatform, make_platform

from gripctl.adapters.helm import KubeTarget
from gripctl.adapters.kube import Kube
from gripctl.adapters.sandbox import SandboxInfo
from gripctl.ledger.types import ActionKind, RunOutcome


@pytest.fixture
def proxy(sandbox: SandboxInfo) -> Iterator[ApiProxy]:
    p = ApiProxy(Kube(KubeTarget(sandbox.context, sandbox.kubeconfig)).server)
    p.up()
    try:
        yield p
    finally:
        p.down()


@pytest.fixture
def proxied(
    tmp_path: Path, sandbox: SandboxInfo, namespace: str, proxy: ApiProxy
) -> Callable[..., SynthPlatform]:
    """A synthetic platform whose environment reaches the API server through `proxy`."""

    def build(needs: dict[str, list[str]], **kw: object) -> SynthPlatform:
        root = tmp_path / "repo"
        root.mkdir(exist_ok=True)
        kubeconfig = proxy.kubeconfig(sandbox.kubeconfig, sandbox.context, tmp_path / "kubeconfig")
        return make_platform(
            root, namespace=namespace, kubeconfig=kubeconfig, context=sandbox.context, needs=needs, **kw
        )  # type: ignore[arg-type]

    return build


async def test_api_down_when_the_deploy_starts_fails_cleanly_and_the_next_one_completes(
    proxied: Callable[..., SynthPlatform], proxy: ApiProxy, kube_target: KubeTarget
) -> None:
    sp = proxied({"010-a": [], "020-b": ["010-a"]})
    proxy.down()
    started = time.monotonic()
    done = deploy_cli(sp)
    out, err = done.communicate(timeout=120)
    assert done.returncode == 1, out + err
    assert "is the cluster up?" in err and proxy.url in err, err
    assert "Traceback" not in err
    await asyncio.sleep(max(0.0, 5 - (time.monotonic() - started)))  # down for 5 s, as the issue asks
    proxy.up()
    for rid in sp.ids:
        assert await history(sp, kube_target, rid) == []  # nothing half-done
    again = deploy_cli(sp)
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, out + err
    await assert_ledger_matches_helm(sp, kube_target, sp.ids)


MOMENTS = {
    "while-verifying": phase_seen("010-a", "verifying"),
    "while-helm-upgrades": action_running("020-b", ActionKind.upgrade),
}


@pytest.mark.parametrize("moment", list(MOMENTS))
async def test_an_outage_shorter_than_the_timeout_is_ridden_through(
    moment: str, proxied: Callable[..., SynthPlatform], proxy: ApiProxy, kube_target: KubeTarget
) -> None:
    sp = proxied({"010-a": [], "020-b": ["010-a"]})
    first = deploy_cli(sp)
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, out + err
    sp.set_values("010-a", version="v2", inject="slow-ready", readyAfter="3s")
    sp.set_values("020-b", version="v2")
    run = deploy_cli(sp)
    await when(run, sp, MOMENTS[moment])
    proxy.down()
    await asyncio.sleep(5)
    proxy.up()
    out, err = run.communicate(timeout=300)
    assert run.returncode == 0, out + err
    result = ledger_of(sp).runs(limit=1)[0]
    assert result.outcome is RunOutcome.succeeded, result.error
    for rid in sp.ids:
        assert await deployed_version(sp, kube_target, rid) == "v2"
    await assert_ledger_matches_helm(sp, kube_target, sp.ids)


async def test_an_outage_longer_than_the_timeout_fails_cleanly_and_the_next_deploy_completes(
    proxied: Callable[..., SynthPlatform], proxy: ApiProxy, kube_target: KubeTarget
) -> None:
    sp = proxied({"010-a": [], "020-b": ["010-a"]}, timeout="6s")
    first = deploy_cli(sp)
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, out + err
    sp.set_values("010-a", version="v2", inject="slow-ready", readyAfter="3s")
    run = deploy_cli(sp)
    await when(run, sp, phase_seen("010-a", "verifying"))
    proxy.down()
    try:
        out, err = run.communicate(timeout=120)  # it gives up while the API is still away
    finally:
        proxy.up()
    assert run.returncode == 1, out + err
    assert "is the cluster up?" in out + err and "Traceback" not in err, out + err
    result = ledger_of(sp).runs(limit=1)[0]
    assert result.outcome is RunOutcome.failed, result
    for rid in sp.ids:
        entries = await history(sp, kube_target, rid)
        assert not entries[-1].status.startswith("pending-"), (rid, entries)
    again = deploy_cli(sp)
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, out + err
    for rid in sp.ids:
        assert (await history(sp, kube_target, rid))[-1].status == "deployed"
    await assert_ledger_matches_helm(sp, kube_target, sp.ids)
