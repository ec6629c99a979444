"""observe + plan against the real sandbox cluster: deployed -> noop, values change -> upgrade with a
diff, an interrupted helm upgrade -> locked -> unlock, an unknown context -> ClusterError."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest
from observe_helpers import CHART, one_release_platform

from gripctl.adapters import helm
from gripctl.adapters.helm import KubeTarget
from gripctl.adapters.process import run_async
from gripctl.adapters.toolchain import find_tool, tool_env
from gripctl.errors import ClusterError
from gripctl.model.types import Platform
from gripctl.observe.release import observe_release
from gripctl.observe.snapshot import snapshot
from gripctl.plan import compute_plan
from gripctl.plan.types import Action, Plan, ReleaseStatus

pytest.importorskip("gripctl.adapters.sandbox")  # the sandbox fixtures live in tests/conftest.py

pytestmark = pytest.mark.cluster

# No hook: a pre-install hook would make helm wait on nothing. The chart keeps its ConfigMap that shows
# `.Release.IsUpgrade`, so that the tests see install and upgrade renders compared like with like.
CLUSTER_CHART = {k: v for k, v in CHART.items() if k != "templates/hook.yaml"}


def platform_for(tmp_path: Path, kube_target: KubeTarget, namespace: str, values: str) -> Platform:
    return one_release_platform(
        tmp_path,
        namespace=namespace,
        values={"envs/test/values.yaml": values},
        context=kube_target.context,
        kubeconfig=kube_target.kubeconfig,
        chart=CLUSTER_CHART,
    )


async def install(platform: Platform, kube_target: KubeTarget) -> None:
    # helm directly, as an operator would: observe must read releases it did not install itself.
    r = platform.release("010-web")
    files = [a for f in r.values_files for a in ("--values", str(f))]
    result = await run_async(
        "helm",
        ["upgrade", "--install", r.name, str(r.chart_path), "--namespace", r.namespace, "--wait=hookOnly",
         "--timeout", "60s", *files, *kube_target.args()],
    )  # fmt: skip
    assert result.ok


async def plan_now(platform: Platform, kube_target: KubeTarget, *, later: float = 0.0) -> Plan:
    snap = await snapshot(platform, ["010-web"], kube_target)
    return compute_plan(platform, snap, ["010-web"], now=time.time() + later)


async def test_installed_release_is_deployed_and_plans_noop_then_upgrade_on_a_values_change(
    tmp_path: Path, kube_target: KubeTarget, namespace: str
) -> None:
    platform = platform_for(tmp_path, kube_target, namespace, "replicas: 2\ngreeting: hi\n")
    release = platform.release("010-web")
    absent = await observe_release(release, kube_target)
    assert absent.status is ReleaseStatus.absent and absent.revision is None
    await install(platform, kube_target)

    observed = await observe_release(release, kube_target)
    assert (observed.status, observed.helm_status, observed.revision, observed.deployed_revision) == (
        ReleaseStatus.deployed,
        "deployed",
        1,
        1,
    )
    assert observed.chart_version == "0.1.0" and observed.values == {"replicas": 2, "greeting": "hi"}
    assert "kind: Deployment" in observed.manifest

    plan = await plan_now(platform, kube_target)
    r = plan.get("010-web")
    assert (r.action, r.reason, r.changes) == (Action.noop, "in sync at revision 1", ())

    (tmp_path / "envs/test/values.yaml").write_text("replicas: 3\ngreeting: hi\n")
    changed = await plan_now(platform, kube_target)
    r = changed.get("010-web")
    assert r.action is Action.upgrade
    assert r.reason == "values changed: replicas; objects 1 changed"
    [change] = r.changes
    assert (change.kind, change.namespace, change.name, change.change) == (
        "apps/Deployment",
        namespace,
        "web",
        "changed",
    )
    diff_lines = [
        line for line in change.diff.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")
    ]
    assert diff_lines == ["-  replicas: 2", "+  replicas: 3"]
    assert "values file envs/test/values.yaml changed" in _stale_message(plan, changed)
    # observing and planning changed nothing: still one revision
    assert [e.revision for e in await helm.history("web", namespace, kube_target)] == [1]

    # after the upgrade (rendered with .Release.IsUpgrade) the plan is in sync again
    await install(platform, kube_target)
    after = (await plan_now(platform, kube_target)).get("010-web")
    assert (after.action, after.reason, after.live_revision) == (Action.noop, "in sync at revision 2", 2)


def _stale_message(saved: Plan, current: Plan) -> str:
    from gripctl.errors import PlanStaleError
    from gripctl.plan import check_fresh

    with pytest.raises(PlanStaleError) as err:
        check_fresh(saved, current)
    return err.value.message


async def _wait_for_status(
    name: str, namespace: str, target: KubeTarget, status: str, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        entries = await helm.history(name, namespace, target)
        if entries and max(entries, key=lambda e: e.revision).status == status:
            return
        await asyncio.sleep(0.5)
    pytest.fail(f"release {name} never reached {status} within {timeout}s")


async def test_an_interrupted_upgrade_is_blocked_until_its_timeout_then_planned_as_unlock(
    tmp_path: Path, kube_target: KubeTarget, namespace: str
) -> None:
    platform = platform_for(tmp_path, kube_target, namespace, "replicas: 1\n")
    await install(platform, kube_target)
    # An upgrade whose pod never becomes ready (the sandbox's failure-injection label) keeps helm waiting
    # with the release in pending-upgrade; SIGKILL then leaves it there, as a crashed CI runner would.
    values = tmp_path / "never-ready.yaml"
    values.write_text("replicas: 1\npodLabels:\n  gripctl.dev/inject: never-ready\n")
    release = platform.release("010-web")
    proc = await asyncio.create_subprocess_exec(
        find_tool("helm"), "upgrade", "web", str(release.chart_path), "--namespace", namespace,
        "--values", str(values), "--wait", "--timeout", "60s", *kube_target.args(),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL, env=tool_env(),
    )  # fmt: skip
    try:
        await _wait_for_status("web", namespace, kube_target, "pending-upgrade", timeout=45)
        assert proc.returncode is None, "helm finished before it could be interrupted"
    finally:
        if proc.returncode is None:
            os.kill(proc.pid, signal.SIGKILL)
        await proc.wait()

    observed = await observe_release(release, kube_target)
    assert (observed.status, observed.helm_status, observed.revision, observed.deployed_revision) == (
        ReleaseStatus.locked,
        "pending-upgrade",
        2,
        1,
    )
    assert observed.manifest_revision == 1  # compared against what an unlock returns to
    # Within the release's timeout another helm may still be working on it (from another machine):
    # the plan says so, as the deploy that refuses it will.
    fresh = (await plan_now(platform, kube_target)).get("010-web")
    assert fresh.action is Action.blocked, fresh.reason
    assert "locked by another helm since " in fresh.reason and "unlockable after " in fresh.reason
    # Past its timeout, nobody can still be running it: unlock.
    plan = await plan_now(platform, kube_target, later=release.timeout_seconds + 1)
    r = plan.get("010-web")
    assert r.action is Action.unlock and r.deployed_revision == 1 and r.live_revision == 2
    assert r.reason.startswith("pending-upgrade at revision 2 since ")
    assert r.reason.endswith("(an interrupted helm run); roll back to revision 1, then upgrade")


async def test_unknown_context_in_the_real_kubeconfig_is_a_cluster_error(
    tmp_path: Path, kube_target: KubeTarget, namespace: str
) -> None:
    wrong = KubeTarget(context="gripctl-sandbox-typo", kubeconfig=kube_target.kubeconfig)
    platform = platform_for(tmp_path, wrong, namespace, "replicas: 1\n")
    with pytest.raises(ClusterError) as err:
        await snapshot(platform, ["010-web"], wrong)
    assert "kubeconfig context 'gripctl-sandbox-typo' not found" in err.value.message
    assert kube_target.context in err.value.message  # the known contexts are listed
    assert await helm.history("web", namespace, kube_target) == []  # nothing was installed or changed
