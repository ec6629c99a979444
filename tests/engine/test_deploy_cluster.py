"""The deployment engine on the sandbox cluster: real helm, real API server, kwok-simulated pods.

Each test builds a small synthetic platform in tmp_path (tests/engine/engine_platforms.py) in a fresh
namespace, deploys it through `gripctl.service.deploy.deploy` (or the real CLI in a subprocess, for
the kill tests) and checks the cluster (helm history) and the ledger (actions, events, timestamps).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from engine_platforms import SynthPlatform

from gripctl.adapters import helm
from gripctl.adapters.helm import KubeTarget
from gripctl.adapters.sandbox import SandboxInfo
from gripctl.engine.events import EngineEvent, EventKind
from gripctl.engine.runner import OnFailure
from gripctl.errors import ApprovalError, LockedError, ToolError
from gripctl.ledger import open_ledger
from gripctl.ledger.store import Ledger
from gripctl.ledger.types import ActionKind, RunOutcome
from gripctl.service.deploy import Deployment, DeployRequest, RollbackRequest, deploy, rollback
from gripctl.service.status import StatusRequest, status

pytestmark = pytest.mark.cluster


def ledger_of(sp: SynthPlatform) -> Ledger:
    return open_ledger(f"sqlite:///{sp.root / '.gripctl' / 'ledger.sqlite'}")


async def run(sp: SynthPlatform, env: str | None = None, **kw: object) -> Deployment:
    return await deploy(DeployRequest(root=sp.root, environment=env or sp.environment, **kw))  # type: ignore[arg-type]


async def history(sp: SynthPlatform, target: KubeTarget, rid: str) -> list[helm.HistoryEntry]:
    return await helm.history(rid.split("-", 1)[1], sp.namespace, target)


async def deployed_version(sp: SynthPlatform, target: KubeTarget, rid: str) -> str:
    manifest = await helm.get_manifest(rid.split("-", 1)[1], sp.namespace, target)
    return manifest.split("registry.local/app:")[1].split('"')[0]


DIAMOND = {"010-a": [], "020-b": ["010-a"], "020-c": ["010-a"], "030-d": ["020-b", "020-c"]}


async def test_deploys_in_dependency_order_with_parallel_branches(
    synth: Callable[..., SynthPlatform], kube_target: KubeTarget
) -> None:
    # b and c take ~3 s to become Ready: long enough to see that they overlap, and that d waits for both.
    slow = {"inject": "slow-ready", "readyAfter": "3s"}
    sp = synth(DIAMOND, values={"020-b": slow, "020-c": slow})
    result = (await run(sp)).result
    assert result.outcome is RunOutcome.succeeded, result.summary()
    for rid in DIAMOND:
        entries = await history(sp, kube_target, rid)
        assert [e.status for e in entries] == ["deployed"], rid

    record = ledger_of(sp).run(result.run_id)
    assert record is not None and record.outcome is RunOutcome.succeeded
    acts = {a.release_id: a for a in record.actions}
    healthy = {e.release_id: e.ts for e in record.events if e.data and e.data.get("phase") == "healthy"}
    # Dependents start only after their needs were verified healthy.
    assert acts["020-b"].started_at >= healthy["010-a"]
    assert acts["020-c"].started_at >= healthy["010-a"]
    assert acts["030-d"].started_at >= max(healthy["020-b"], healthy["020-c"])
    # The independent branches overlapped.
    b, c = acts["020-b"], acts["020-c"]
    assert b.finished_at and c.finished_at
    assert b.started_at < c.finished_at and c.started_at < b.finished_at
    assert all(a.outcome.value == "succeeded" and a.action is ActionKind.install for a in acts.values())

    # A second deploy has nothing to do.
    again = (await run(sp)).result
    assert again.outcome is RunOutcome.succeeded
    assert {r.phase.value for r in again.releases.values()} == {"unchanged"}


async def test_serial_runs_one_release_at_a_time_in_topological_order(
    synth: Callable[..., SynthPlatform],
) -> None:
    slow = {"inject": "slow-ready", "readyAfter": "2s"}
    sp = synth(DIAMOND, values={"020-b": slow, "020-c": slow})
    result = (await run(sp, serial=True)).result
    assert result.outcome is RunOutcome.succeeded, result.summary()
    record = ledger_of(sp).run(result.run_id)
    assert record is not None
    actions = sorted(record.actions, key=lambda a: a.started_at)
    assert [a.release_id for a in actions] in (
        ["010-a", "020-b", "020-c", "030-d"],
        ["010-a", "020-c", "020-b", "030-d"],
    )
    # No overlap at all: each release starts after the previous one finished (deployed and verified).
    for before, after in itertools.pairwise(actions):
        assert before.finished_at is not None and after.started_at >= before.finished_at, (before, after)


async def test_never_ready_is_rolled_back_and_dependents_skipped(
    synth: Callable[..., SynthPlatform], kube_target: KubeTarget
) -> None:
    sp = synth({"010-a": [], "020-b": ["010-a"], "030-d": ["020-b"]}, timeout="6s")
    assert (await run(sp)).result.outcome is RunOutcome.succeeded
    sp.set_values("020-b", version="v2", inject="never-ready")
    sp.set_values("030-d", version="v2")
    result = (await run(sp)).result
    assert result.outcome is RunOutcome.rolled_back
    b, d = result.releases["020-b"], result.releases["030-d"]
    assert b.phase.value == "rolled-back"
    assert "timed out after 6s" in b.reason and "not ready (ContainersNotReady)" in b.reason, b.reason
    assert "Readiness probe failed" in b.reason  # the pod's last event
    assert d.phase.value == "skipped" and "020-b" in d.reason
    assert await deployed_version(sp, kube_target, "020-b") == "v1"
    assert await deployed_version(sp, kube_target, "030-d") == "v1"
    assert [e.status for e in await history(sp, kube_target, "030-d")] == ["deployed"]  # never touched
    actions = [
        (a.release_id, a.action.value, a.outcome.value) for a in ledger_of(sp).run(result.run_id).actions
    ]  # type: ignore[union-attr]
    assert ("020-b", "upgrade", "failed") in actions and ("020-b", "rollback", "succeeded") in actions
    assert not any(rid == "030-d" for rid, _, _ in actions)


async def test_crash_is_detected_fast_and_rolled_back(
    synth: Callable[..., SynthPlatform], kube_target: KubeTarget
) -> None:
    sp = synth({"010-a": []}, timeout="120s")
    assert (await run(sp)).result.outcome is RunOutcome.succeeded
    sp.set_values("010-a", version="v2", inject="crash")
    started = time.monotonic()
    result = (await run(sp)).result
    took = time.monotonic() - started
    a = result.releases["010-a"]
    assert a.phase.value == "rolled-back", a.reason
    assert "pod a-" in a.reason and ("CrashLoopBackOff" in a.reason or "restarted" in a.reason), a.reason
    assert "last event" in a.reason
    assert took < 60, f"failure took {took:.1f}s: fail-fast should not wait for the 120s timeout"
    assert a.failed_at and a.remediation_started and a.remediation_started - a.failed_at < 3
    assert await deployed_version(sp, kube_target, "010-a") == "v1"


async def test_rollback_run_restores_every_changed_release(
    synth: Callable[..., SynthPlatform], kube_target: KubeTarget
) -> None:
    sp = synth(
        {"010-a": [], "020-b": ["010-a"], "020-c": ["010-a"], "030-d": ["020-b", "020-c"]}, timeout="6s"
    )
    assert (await run(sp)).result.outcome is RunOutcome.succeeded
    for rid in ("010-a", "020-c", "030-d"):
        sp.set_values(rid, version="v2")
    sp.set_values("020-b", version="v2", inject="never-ready")
    result = (await run(sp, on_failure=OnFailure.rollback_run)).result
    assert result.outcome is RunOutcome.rolled_back
    phases = {rid: r.phase.value for rid, r in result.releases.items()}
    assert phases == {
        "010-a": "rolled-back",
        "020-b": "rolled-back",
        "020-c": "rolled-back",
        "030-d": "skipped",
    }
    for rid in DIAMOND:
        assert await deployed_version(sp, kube_target, rid) == "v1", rid
    record = ledger_of(sp).run(result.run_id)
    assert record is not None
    rollbacks = [a.release_id for a in record.actions if a.action is ActionKind.rollback]
    # b first (its own remediation), then the run's other changes in reverse dependency order.
    assert rollbacks[0] == "020-b" and rollbacks.index("020-c") < rollbacks.index("010-a")


async def test_first_install_that_fails_is_uninstalled(
    synth: Callable[..., SynthPlatform], kube_target: KubeTarget
) -> None:
    sp = synth({"010-a": []}, timeout="5s", values={"010-a": {"inject": "never-ready"}})
    result = (await run(sp)).result
    assert result.releases["010-a"].phase.value == "uninstalled"
    assert result.outcome is RunOutcome.rolled_back
    assert await history(sp, kube_target, "010-a") == []


async def test_production_refuses_without_approval_and_changes_nothing(
    synth: Callable[..., SynthPlatform], kube_target: KubeTarget
) -> None:
    sp = synth({"010-a": []})
    with pytest.raises(ApprovalError) as err:
        await run(sp, sp.production)
    assert "gripctl approve" in str(err.value) and "--sign" in str(err.value)
    assert await history(sp, kube_target, "010-a") == []
    led = ledger_of(sp)
    runs = led.runs(sp.production)
    assert [r.outcome for r in runs] == [RunOutcome.refused]
    assert led.env_lock(sp.production) is None  # the lock was released
    plan_id = str(err.value).split("approval of plan ")[1].split()[0]
    # Approved by an allowed approver for this digest: the same deploy now goes through.
    from gripctl.engine.approvals import approve
    from gripctl.ledger.types import ApprovalMethod
    from gripctl.model import load_platform

    approve(
        led,
        load_platform(sp.root, sp.production).environment,
        plan_id,
        "alice",
        None,
        method=ApprovalMethod.token,
    )
    result = (await run(sp, sp.production)).result
    assert result.outcome is RunOutcome.succeeded
    # A changed repository is a different plan: the old approval does not carry over.
    sp.set_values("010-a", version="v2")
    with pytest.raises(ApprovalError, match="different plan"):
        await run(sp, sp.production)
    assert await deployed_version(sp, kube_target, "010-a") == "v1"


async def test_release_locked_by_another_helm_is_refused(
    synth: Callable[..., SynthPlatform], kube_target: KubeTarget, sandbox: SandboxInfo
) -> None:
    sp = synth({"010-a": []}, values={"010-a": {"inject": "never-ready"}})
    chart = sp.root / "ops" / "helm" / "010-a"
    other = subprocess.Popen(
        [
            helm_binary(),
            "upgrade",
            "--install",
            "a",
            str(chart),
            "-n",
            sp.namespace,
            "--wait",
            "--timeout",
            "60s",
            *kube_target.args(),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            entries = await history(sp, kube_target, "010-a")
            if entries and entries[-1].status == "pending-install":
                break
            await asyncio.sleep(0.2)
        else:
            pytest.fail("the other helm never got to pending-install")
        with pytest.raises(LockedError) as err:
            await run(sp)
        assert "release 010-a" in str(err.value) and "pending-install" in str(err.value)
        entries = await history(sp, kube_target, "010-a")
        assert [(e.revision, e.status) for e in entries] == [(1, "pending-install")]  # untouched
        assert [r.outcome for r in ledger_of(sp).runs()] == [RunOutcome.refused]
    finally:
        other.kill()
        other.wait()


async def test_chart_render_failure_changes_nothing(
    synth: Callable[..., SynthPlatform], kube_target: KubeTarget
) -> None:
    sp = synth({"010-a": [], "020-b": ["010-a"]})
    (sp.root / "ops" / "helm" / "020-b" / "templates" / "broken.yaml").write_text(
        "{{ .Values.nope.deeper }}\n"
    )
    with pytest.raises(ToolError, match="020-b"):
        await run(sp)
    assert await history(sp, kube_target, "010-a") == []
    assert ledger_of(sp).runs() == []


async def test_second_run_is_locked_out_and_can_wait(synth: Callable[..., SynthPlatform]) -> None:
    sp = synth({"010-a": []}, values={"010-a": {"inject": "slow-ready", "readyAfter": "4s"}})
    first = asyncio.create_task(run(sp))
    for _ in range(400):
        led = ledger_of_when_exists(sp)
        if led is not None and led.env_lock(sp.environment) is not None:
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail("the first run never took the lock")
    with pytest.raises(LockedError) as err:
        await run(sp)
    assert "is locked by another run" in str(err.value) and f":{os.getpid()}:" in str(err.value)
    waited = await run(sp, wait_lock=60)
    assert (await first).result.outcome is RunOutcome.succeeded
    assert waited.result.outcome is RunOutcome.succeeded


async def test_status_manual_rollback_and_drift(
    synth: Callable[..., SynthPlatform], kube_target: KubeTarget
) -> None:
    sp = synth({"010-a": []})
    await run(sp)
    sp.set_values("010-a", version="v2")
    await run(sp)
    rows = (await status(StatusRequest(sp.root, sp.environment))).rows
    assert [(r.release_id, r.revision, r.health, r.drift) for r in rows] == [("010-a", 2, "healthy", False)]
    rr = await rollback(RollbackRequest(sp.root, sp.environment, "010-a", 1))
    assert rr.phase == "rolled-back" and rr.revision == 3
    assert await deployed_version(sp, kube_target, "010-a") == "v1"
    rows = (await status(StatusRequest(sp.root, sp.environment))).rows
    assert rows[0].drift is True and rows[0].health == "healthy"
    kinds = [r.kind.value for r in ledger_of(sp).runs()]
    assert kinds[0] == "rollback"


# -- crash safety: real kills of a real `gripctl deploy` -----------------------------------------------


def helm_binary() -> str:
    from gripctl.adapters.toolchain import find_tool

    return find_tool("helm")


def start_cli(sp: SynthPlatform) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "gripctl.cli.app", "-C", str(sp.root), "deploy", "-e", sp.environment],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: one test also kills the helm it runs
    )


async def kill_when(
    proc: subprocess.Popen[bytes], sp: SynthPlatform, ready: Callable[[Ledger], bool], *, group: bool = False
) -> None:
    """SIGKILL gripctl (with `group`, the helm it runs too) once `ready(ledger)` holds."""
    led = ledger_of_when_exists(sp)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"gripctl deploy ended (exit {proc.returncode}) before the kill point")
        if led is None:
            led = ledger_of_when_exists(sp)
        elif ready(led):
            if group:
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            return
        await asyncio.sleep(0.02)
    proc.kill()
    pytest.fail("the kill point was never reached")


def ledger_of_when_exists(sp: SynthPlatform) -> Ledger | None:
    return ledger_of(sp) if (sp.root / ".gripctl" / "ledger.sqlite").exists() else None


def _events(led: Ledger) -> list[tuple[str | None, str, str]]:
    runs = led.runs(limit=1)
    record = led.run(runs[0].id) if runs else None
    return [(e.release_id, e.kind, json.dumps(e.data)) for e in record.events] if record else []


def _action_running(rid: str) -> Callable[[Ledger], bool]:
    def check(led: Ledger) -> bool:
        runs = led.runs(limit=1)
        record = led.run(runs[0].id) if runs else None
        return bool(
            record and any(a.release_id == rid and a.outcome.value == "running" for a in record.actions)
        )

    return check


def _phase_seen(rid: str, phase: str) -> Callable[[Ledger], bool]:
    return lambda led: any(r == rid and f'"phase": "{phase}"' in d for r, _k, d in _events(led))


KILL_POINTS = {
    "during-helm-upgrade": _action_running("020-b"),
    "during-verification": _phase_seen("020-b", "verifying"),
    "between-releases": _phase_seen("010-a", "healthy"),
}


@pytest.mark.parametrize("point", list(KILL_POINTS))
async def test_killed_deploy_is_recovered_by_the_next_one(
    point: str, synth: Callable[..., SynthPlatform], kube_target: KubeTarget
) -> None:
    sp = synth(
        {"010-a": [], "020-b": ["010-a"]}, values={"020-b": {"inject": "slow-ready", "readyAfter": "4s"}}
    )
    proc = start_cli(sp)
    await kill_when(proc, sp, KILL_POINTS[point])
    led = ledger_of(sp)
    killed = led.runs(limit=1)[0]
    assert killed.outcome is RunOutcome.running  # the process died without closing it

    result = await run(sp)  # takes over the dead run's lock at once (same host, pid gone)
    assert result.result.outcome is RunOutcome.succeeded, result.result.summary()
    print(point, result.recovered)
    assert any(f"run {killed.id} marked interrupted" in line for line in result.recovered)
    closed = led.run(killed.id)
    assert closed is not None and closed.outcome is RunOutcome.interrupted
    assert all(a.outcome.value != "running" for a in closed.actions)
    for rid in ("010-a", "020-b"):
        entries = await history(sp, kube_target, rid)
        assert entries and not entries[-1].status.startswith("pending-"), (rid, entries)
        assert entries[-1].status == "deployed"
    assert led.env_lock(sp.environment) is None


async def test_killed_together_with_its_helm_leaves_a_pending_release_that_is_unlocked(
    synth: Callable[..., SynthPlatform], kube_target: KubeTarget
) -> None:
    """The whole process group dies mid-upgrade (a cancelled CI job, an OOM-killed container): helm too,
    so the release stays pending-upgrade. The next deploy rolls it back to revision 1, then upgrades."""
    from gripctl.adapters.kube import Kube

    sp = synth({"010-a": []})
    assert (await run(sp)).result.outcome is RunOutcome.succeeded
    # v2 comes with a pre-upgrade hook that never completes: helm sits in pending-upgrade until killed.
    sp.set_values("010-a", version="v2", hangingHook=True)
    kube = Kube(kube_target)
    proc = start_cli(sp)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        pending, _ = kube.list_objects(
            "Secret", sp.namespace, label_selector="owner=helm,status=pending-upgrade"
        )
        if pending:
            await asyncio.sleep(0.5)  # helm is now waiting for the hook
            os.killpg(proc.pid, signal.SIGKILL)
            break
        await asyncio.sleep(0.05)
    proc.wait()
    entries = await history(sp, kube_target, "010-a")
    assert entries[-1].status == "pending-upgrade", entries
    sp.set_values("010-a", hangingHook=False)  # the operator fixes the chart and deploys again
    result = await run(sp)
    assert "010-a: rolled back to revision 1" in result.recovered, result.recovered
    assert result.result.outcome is RunOutcome.succeeded
    assert result.result.releases["010-a"].phase.value == "healthy"
    assert await deployed_version(sp, kube_target, "010-a") == "v2"
    statuses = [e.status for e in await history(sp, kube_target, "010-a")]
    # The interrupted revision stays in helm's history as it was; rollback (3) and upgrade (4) follow it.
    assert statuses == ["superseded", "pending-upgrade", "superseded", "deployed"], statuses


async def test_ctrl_c_stops_promptly_and_the_next_deploy_recovers(
    synth: Callable[..., SynthPlatform], kube_target: KubeTarget
) -> None:
    """Ctrl-C (SIGINT) while one release's helm upgrade is in flight (held by a hook that never ends)
    and another release is being verified: gripctl stops its helm with SIGTERM (so that helm records the
    release failed instead of leaving it pending-upgrade, locked), records the run interrupted, releases
    the lock and exits 130 promptly. The next deploy upgrades the release again and finishes."""
    sp = synth({"010-a": [], "010-b": []})
    assert (await run(sp)).result.outcome is RunOutcome.succeeded
    sp.set_values("010-a", version="v2", inject="slow-ready", readyAfter="6s")
    sp.set_values("010-b", version="v2", hangingHook=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "gripctl.cli.app", "-C", str(sp.root), "deploy", "-e", sp.environment],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    led = ledger_of(sp)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if _phase_seen("010-a", "verifying")(led) and _action_running("010-b")(led):
            break
        await asyncio.sleep(0.05)
    assert proc.poll() is None, "the deploy ended before it could be interrupted"
    await asyncio.sleep(0.5)  # helm is now waiting for the hook
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("gripctl did not stop within 30 s of Ctrl-C")
    assert proc.returncode == 130, err.decode()
    interrupted = led.runs(limit=1)[0]
    assert interrupted.outcome is RunOutcome.interrupted, interrupted
    assert led.env_lock(sp.environment) is None
    assert (await history(sp, kube_target, "010-b"))[-1].status == "failed"  # not locked

    sp.set_values("010-b", hangingHook=False)  # the operator fixes the hook and deploys again
    sp.set_values("010-a", inject="")
    result = await run(sp)
    assert result.result.outcome is RunOutcome.succeeded, result.result.summary()
    for rid in ("010-a", "010-b"):
        assert (await history(sp, kube_target, rid))[-1].status == "deployed"
        assert await deployed_version(sp, kube_target, rid) == "v2"


def _rollback_begun(rid: str) -> Callable[[Ledger], bool]:
    def check(led: Ledger) -> bool:
        runs = led.runs(limit=1)
        record = led.run(runs[0].id) if runs else None
        return bool(
            record
            and any(
                a.release_id == rid and a.action is ActionKind.rollback and a.outcome.value == "running"
                for a in record.actions
            )
        )

    return check


async def test_killed_while_rolling_back_is_recovered_to_the_revision_before_the_run(
    synth: Callable[..., SynthPlatform], kube_target: KubeTarget
) -> None:
    """gripctl and its helm die together just as the automatic rollback of a failed upgrade begins.
    `gripctl recover` must bring the release back to the revision that ran before the run, not to the
    failed revision that helm last recorded as deployed."""
    sp = synth({"010-a": []}, timeout="6s")
    assert (await run(sp)).result.outcome is RunOutcome.succeeded
    sp.set_values("010-a", version="v2", inject="never-ready")
    proc = start_cli(sp)
    await kill_when(proc, sp, _rollback_begun("010-a"), group=True)
    led = ledger_of(sp)
    killed = led.runs(limit=1)[0]
    assert killed.outcome is RunOutcome.running

    done = subprocess.run(
        [sys.executable, "-m", "gripctl.cli.app", "-C", str(sp.root), "recover", "-e", sp.environment],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert await deployed_version(sp, kube_target, "010-a") == "v1", done.stdout
    entries = await history(sp, kube_target, "010-a")
    assert entries[-1].status == "deployed", entries
    closed = led.run(killed.id)
    assert closed is not None and closed.outcome is RunOutcome.interrupted


def test_cli_streams_json_events_and_writes_a_github_summary(
    synth: Callable[..., SynthPlatform], tmp_path: Path
) -> None:
    sp = synth({"010-a": [], "020-b": ["010-a"]})
    summary = tmp_path / "summary.md"
    env = {**os.environ, "GITHUB_STEP_SUMMARY": str(summary)}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "gripctl.cli.app",
            "-C",
            str(sp.root),
            "-o",
            "json",
            "deploy",
            "-e",
            sp.environment,
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    phases = [(e.get("release"), e.get("phase")) for e in lines if e.get("event") == "phase"]
    assert phases.index(("010-a", "healthy")) < phases.index(("020-b", "deploying"))
    assert all("ts" in e for e in lines[:-1])
    assert lines[-1]["outcome"] == "succeeded" and lines[-1]["releases"]["020-b"]["phase"] == "healthy"
    text = summary.read_text()
    assert f"### gripctl deploy: {sp.environment}" in text and "| `020-b` | healthy |" in text


async def test_history_names_the_run_behind_each_revision(synth: Callable[..., SynthPlatform]) -> None:
    sp = synth({"010-a": []})
    first = (await run(sp)).result
    sp.set_values("010-a", version="v2")
    second = (await run(sp)).result
    assert first.outcome is second.outcome is RunOutcome.succeeded
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "gripctl.cli.app",
            "-C",
            str(sp.root),
            "-o",
            "json",
            "history",
            "010-a",
            "-e",
            sp.environment,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [(r["revision"], r["run"]) for r in rows] == [(2, second.run_id), (1, first.run_id)]


async def test_apply_runs_the_saved_plan_or_refuses_when_stale(
    synth: Callable[..., SynthPlatform], kube_target: KubeTarget
) -> None:
    from gripctl.errors import PlanStaleError
    from gripctl.model import load_platform
    from gripctl.observe.snapshot import snapshot
    from gripctl.plan.compute import compute_plan
    from gripctl.plan.serialize import plan_from_json, plan_to_json

    sp = synth({"010-a": [], "020-b": ["010-a"]})
    platform = load_platform(sp.root, sp.environment)
    ids = list(platform.releases)
    saved = plan_from_json(
        plan_to_json(compute_plan(platform, await snapshot(platform, ids, kube_target), ids))
    )
    sp.set_values("020-b", version="v2")  # the repository moves after the plan was reviewed
    with pytest.raises(PlanStaleError, match="since plan"):
        await run(sp, saved_plan=saved)
    assert await history(sp, kube_target, "010-a") == []  # nothing deployed
    fresh_platform = load_platform(sp.root, sp.environment)
    fresh = compute_plan(fresh_platform, await snapshot(fresh_platform, ids, kube_target), ids)
    result = (await run(sp, saved_plan=fresh)).result
    assert result.outcome is RunOutcome.succeeded
    assert (
        ledger_of(sp).runs()[0].kind.value == "apply" and ledger_of(sp).runs()[0].plan_digest == fresh.digest
    )


async def test_failing_http_check_fails_and_rolls_back(
    synth: Callable[..., SynthPlatform], kube_target: KubeTarget
) -> None:
    import http.server
    import threading

    state = {"status": 200}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(state["status"])
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    class HealOnRemediation:
        """An EventSink: the endpoint recovers once gripctl starts rolling back (as the old version would)."""

        def handle(self, event: EngineEvent) -> None:
            if event.kind is EventKind.remediation:
                state["status"] = 200

        def close(self) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/healthz"
    try:
        sp = synth(
            {"010-a": []},
            timeout="5s",
            release_extra={"010-a": {"health": {"http": [{"url": url, "expect": 200}]}}},
        )
        assert (await run(sp)).result.outcome is RunOutcome.succeeded
        state["status"] = 503
        sp.set_values("010-a", version="v2")
        result = (await run(sp, sinks=[HealOnRemediation()])).result
        a = result.releases["010-a"]
        assert a.phase.value == "rolled-back"
        assert f"HTTP check {url}: status 503, expected 200" in a.reason
    finally:
        server.shutdown()


async def test_restart_during_the_monitoring_window_fails_the_release(
    synth: Callable[..., SynthPlatform], kube_target: KubeTarget, kube_api: object
) -> None:
    from kubernetes import client as k8s

    sp = synth({"010-a": []}, monitor="30s")
    task = asyncio.create_task(run(sp, monitor_seconds=0))
    assert (await task).result.outcome is RunOutcome.succeeded
    sp.set_values("010-a", version="v2")
    task = asyncio.create_task(run(sp))
    core = k8s.CoreV1Api(kube_api)
    for _ in range(600):
        led = ledger_of_when_exists(sp)
        if led is not None and any(r == "010-a" and '"monitoring"' in d for r, _k, d in _events(led)):
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail("the release never reached its monitoring window")
    pods = [
        p
        for p in core.list_namespaced_pod(sp.namespace, label_selector="app=a").items
        if not p.metadata.deletion_timestamp
    ]
    pod = next(p for p in pods if p.metadata.annotations.get("gripctl.dev/version") == "v2")
    # What a crashing container looks like to the API: its restart count goes up (kwok lets us write it).
    statuses = [
        {
            "name": c.name,
            "image": c.image,
            "imageID": c.image_id or "",
            "ready": True,
            "restartCount": c.restart_count + 1,
            "started": True,
            "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}},
            "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}},
        }
        for c in pod.status.container_statuses
    ]
    core.patch_namespaced_pod_status(
        pod.metadata.name, sp.namespace, {"status": {"containerStatuses": statuses}}
    )
    started = time.monotonic()
    result = (await task).result
    assert time.monotonic() - started < 20  # well before the 30 s window ends
    a = result.releases["010-a"]
    assert a.phase.value == "rolled-back", a.reason
    assert "during the monitoring window" in a.reason and "OOMKilled" in a.reason, a.reason
    assert await deployed_version(sp, kube_target, "010-a") == "v1"


async def test_verify_on_demand(synth: Callable[..., SynthPlatform]) -> None:
    from gripctl.service.status import VerifyRequest, verify

    sp = synth({"010-a": [], "020-b": ["010-a"]})
    await run(sp)
    rows = (await verify(VerifyRequest(sp.root, sp.environment, timeout=10))).rows
    assert [(r.release_id, r.ok) for r in rows] == [("010-a", True), ("020-b", True)]


async def test_cluster_lease_guards_the_environment_across_ledgers(
    synth: Callable[..., SynthPlatform], tmp_path: Path, kube_target: KubeTarget
) -> None:
    """Two checkouts of the same platform with different ledgers: the Lease still lets only one run."""
    import shutil

    from gripctl.adapters.kube import Kube
    from gripctl.engine.locks import LEASE_NAMESPACE

    sp = synth({"010-a": []}, values={"010-a": {"inject": "slow-ready", "readyAfter": "4s"}})
    other_root = tmp_path / "other-checkout"
    shutil.copytree(sp.root, other_root, ignore=shutil.ignore_patterns(".gripctl"))
    first = asyncio.create_task(run(sp))
    kube = Kube(kube_target)
    for _ in range(400):
        lease = kube.get("Lease", LEASE_NAMESPACE, f"gripctl-{sp.environment}")
        if lease and lease["spec"].get("holderIdentity"):
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail("the first run never took the lease")
    assert lease["spec"]["leaseDurationSeconds"] == 15
    assert lease["spec"]["holderIdentity"].endswith(f":{os.getpid()}:1")
    with pytest.raises(LockedError, match=f"cluster lease {LEASE_NAMESPACE}/gripctl-{sp.environment}"):
        await deploy(DeployRequest(root=other_root, environment=sp.environment))
    assert (await first).result.outcome is RunOutcome.succeeded
    assert kube.get("Lease", LEASE_NAMESPACE, f"gripctl-{sp.environment}") is None  # released at the end
    other_runs = open_ledger(f"sqlite:///{other_root / '.gripctl' / 'ledger.sqlite'}").runs()
    assert [r.outcome for r in other_runs] == [RunOutcome.refused]
