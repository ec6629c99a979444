"""kill -9 at more points of a run, each checked for what recovery did — not only that it ended.

Every case kills a real `gripctl` process (deploy, recover, rollback): from outside when a condition on
the ledger or the cluster holds, or from inside at an exact function (killpoint.py) where the window
is too short to hit from outside. Then the next deploy (or `gripctl recover`) must say what it did to
each release, leave no run or action open, and leave the ledger telling the same story as helm.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable

import pytest
from chaos_helpers import (
    assert_ledger_matches_helm,
    deployed_version,
    events,
    gripctl,
    history,
    kill_when,
    killed_at,
    ledger_of,
    phase_seen,
    run,
    start_cli,
)
from engine_platforms import SynthPlatform

from gripctl.adapters.helm import KubeTarget
from gripctl.adapters.kube import Kube
from gripctl.engine.locks import LEASE_NAMESPACE
from gripctl.ledger.types import ActionKind, ActionOutcome, RunOutcome
from gripctl.service.deploy import RecoverRequest, recover
from gripctl.timestamps import micro_time


def _lease_name(sp: SynthPlatform) -> str:
    return f"gripctl-{sp.environment}"


async def test_killed_while_waiting_for_the_lock(
    synth: Callable[..., SynthPlatform], kube_target: KubeTarget
) -> None:
    """A deploy waiting (--wait-lock) for a Lease another live holder has is killed. It changed nothing:
    recovery only closes its run; the next deploy installs everything."""
    sp = synth({"010-a": []})
    kube = Kube(kube_target)
    kube.ensure_namespace(LEASE_NAMESPACE)
    now = micro_time(time.time())
    holder = f"someone@{socket.gethostname()}:{os.getpid()}:0"  # this (live) process
    kube.create(
        "Lease",
        LEASE_NAMESPACE,
        {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": _lease_name(sp), "namespace": LEASE_NAMESPACE},
            "spec": {
                "holderIdentity": holder,
                "leaseDurationSeconds": 120,
                "acquireTime": now,
                "renewTime": now,
            },
        },
    )
    proc = start_cli(sp, "deploy", "-e", sp.environment, "--wait-lock", "120")
    waiting = lambda led: any(k == "lock" and "waiting for the lock" in m for _r, k, m in events(led))  # noqa: E731
    await kill_when(proc, sp, waiting)
    killed = ledger_of(sp).runs(limit=1)[0]
    assert killed.outcome is RunOutcome.running
    assert kube.get("Lease", LEASE_NAMESPACE, _lease_name(sp))["spec"]["holderIdentity"] == holder  # type: ignore[index]
    kube.delete("Lease", LEASE_NAMESPACE, _lease_name(sp))  # the other holder finishes

    result = await run(sp)
    assert result.result.outcome is RunOutcome.succeeded, result.result.summary()
    assert result.recovered == [f"run {killed.id} marked interrupted"]
    closed = ledger_of(sp).run(killed.id)
    assert closed is not None and closed.outcome is RunOutcome.interrupted and closed.actions == ()
    assert [e.status for e in await history(sp, kube_target, "010-a")] == ["deployed"]
    assert kube.get("Lease", LEASE_NAMESPACE, _lease_name(sp)) is None
    await assert_ledger_matches_helm(sp, kube_target, sp.ids)


@pytest.mark.parametrize(
    ("when", "takeover"),
    [
        ("before", "took over the ledger lock of a dead run"),  # ledger lock held, Lease not yet taken
        ("after", "taking over the lease of a dead run"),  # both held, nothing done yet
    ],
)
async def test_killed_during_lock_acquisition(
    when: str, takeover: str, synth: Callable[..., SynthPlatform], kube_target: KubeTarget
) -> None:
    sp = synth({"010-a": []})
    killed_at(start_cli(sp, kill_at="gripctl.engine.locks:EnvLock._try_lease", when=when))
    led = ledger_of(sp)
    killed = led.runs(limit=1)[0]
    assert killed.outcome is RunOutcome.running
    assert led.env_lock(sp.environment) is not None  # the dead run's ledger lock is still there
    lease = Kube(kube_target).get("Lease", LEASE_NAMESPACE, _lease_name(sp))
    assert (lease is not None) is (when == "after")

    started = time.monotonic()
    result = await run(sp)  # no waiting for the 15 s lease: same host, the holder's pid is gone
    assert time.monotonic() - started < 15
    assert result.result.outcome is RunOutcome.succeeded, result.result.summary()
    assert result.recovered == [f"run {killed.id} marked interrupted"]
    mine = [m for _r, k, m in events(led) if k == "lock"]
    assert any(takeover in m and f":{killed.id}" in m for m in mine), mine
    assert [e.status for e in await history(sp, kube_target, "010-a")] == ["deployed"]
    await assert_ledger_matches_helm(sp, kube_target, sp.ids)


async def test_killed_inside_the_monitoring_window(
    synth: Callable[..., SynthPlatform], kube_target: KubeTarget
) -> None:
    """Killed while watching an upgraded release's monitoring window: recovery verifies the revision the
    dead run deployed, finds it healthy and keeps it (it does not roll back a healthy release)."""
    sp = synth({"010-a": []}, monitor="60s")
    assert (await run(sp, monitor_seconds=0)).result.outcome is RunOutcome.succeeded
    sp.set_values("010-a", version="v2")
    proc = start_cli(sp)
    await kill_when(proc, sp, phase_seen("010-a", "monitoring"))
    killed = ledger_of(sp).runs(limit=1)[0]

    result = await run(sp, monitor_seconds=0)
    assert result.recovered == [
        "010-a: revision 2 was deployed and is healthy",
        f"run {killed.id} marked interrupted",
    ]
    assert result.result.outcome is RunOutcome.succeeded
    assert result.result.releases["010-a"].phase.value == "unchanged"
    assert await deployed_version(sp, kube_target, "010-a") == "v2"
    assert [e.status for e in await history(sp, kube_target, "010-a")] == ["superseded", "deployed"]
    await assert_ledger_matches_helm(sp, kube_target, sp.ids)


async def test_killed_after_every_release_is_healthy_before_the_run_is_closed(
    synth: Callable[..., SynthPlatform], kube_target: KubeTarget
) -> None:
    """Every release deployed and verified; the process dies as it records the run's outcome. Recovery
    has nothing to repair: it closes the run, and the releases are left exactly as they are."""
    sp = synth({"010-a": [], "020-b": ["010-a"]})
    killed_at(start_cli(sp, kill_at="gripctl.ledger.store:Ledger.finish_run"))
    led = ledger_of(sp)
    killed = led.run(led.runs(limit=1)[0].id)
    assert killed is not None and killed.outcome is RunOutcome.running
    assert {(a.release_id, a.outcome) for a in killed.actions} == {
        ("010-a", ActionOutcome.succeeded),
        ("020-b", ActionOutcome.succeeded),
    }

    result = await run(sp)
    assert result.recovered == [f"run {killed.id} marked interrupted"]
    assert {r.phase.value for r in result.result.releases.values()} == {"unchanged"}
    for rid in sp.ids:
        assert [e.status for e in await history(sp, kube_target, rid)] == ["deployed"]
    await assert_ledger_matches_helm(sp, kube_target, sp.ids)


async def test_first_install_left_pending_install_is_uninstalled(
    synth: Callable[..., SynthPlatform], kube_target: KubeTarget
) -> None:
    """gripctl and its helm die during a first install (held by a hook that never completes): helm's
    record says pending-install. Recovery uninstalls it (nothing good ever ran); the next deploy, after
    the operator fixed the hook, installs it afresh."""
    sp = synth({"010-a": []}, values={"010-a": {"hangingHook": True}})
    kube = Kube(kube_target)
    proc = start_cli(sp)

    def pending_install(_led: object) -> bool:
        found, _ = kube.list_objects(
            "Secret", sp.namespace, label_selector="owner=helm,status=pending-install"
        )
        return bool(found)

    await kill_when(proc, sp, pending_install, group=True)  # type: ignore[arg-type]
    assert [e.status for e in await history(sp, kube_target, "010-a")] == ["pending-install"]
    killed = ledger_of(sp).runs(limit=1)[0]

    sp.set_values("010-a", hangingHook=False)
    result = await run(sp)
    assert result.recovered == [
        "010-a: uninstalled (its first install never completed)",
        f"run {killed.id} marked interrupted",
    ]
    assert result.result.outcome is RunOutcome.succeeded, result.result.summary()
    assert [(e.revision, e.status) for e in await history(sp, kube_target, "010-a")] == [(1, "deployed")]
    await assert_ledger_matches_helm(sp, kube_target, sp.ids)


async def test_several_releases_in_flight_are_each_recovered(
    synth: Callable[..., SynthPlatform], kube_target: KubeTarget
) -> None:
    """Three independent upgrades in flight when gripctl and its helm die: one held pending-upgrade by
    its hook, two rolling out. Recovery unlocks the first (back to revision 1) and verifies the other two
    (healthy: kept); the next deploy upgrades the first again. (020-d declares a need, so that the
    numbers alone do not chain the 010s: docs/config.md.)"""
    sp = synth({"010-a": [], "010-b": [], "010-c": [], "020-d": ["010-c"]})
    assert (await run(sp)).result.outcome is RunOutcome.succeeded
    sp.set_values("010-a", version="v2", hangingHook=True)
    for rid in ("010-b", "010-c"):
        sp.set_values(rid, version="v2", inject="slow-ready", readyAfter="8s")
    kube = Kube(kube_target)
    proc = start_cli(sp)
    verifying_b, verifying_c = phase_seen("010-b", "verifying"), phase_seen("010-c", "verifying")

    def all_in_flight(led: object) -> bool:
        if not (verifying_b(led) and verifying_c(led)):  # type: ignore[arg-type]
            return False
        found, _ = kube.list_objects(
            "Secret", sp.namespace, label_selector="owner=helm,status=pending-upgrade"
        )
        return any(s["metadata"]["labels"].get("name") == "a" for s in found)

    await kill_when(proc, sp, all_in_flight, group=True)  # type: ignore[arg-type]
    killed = ledger_of(sp).run(ledger_of(sp).runs(limit=1)[0].id)
    assert killed is not None
    assert sorted(a.release_id for a in killed.actions if a.outcome is ActionOutcome.running) == [
        "010-a",
        "010-b",
        "010-c",
    ]

    sp.set_values("010-a", hangingHook=False)
    result = await run(sp)
    assert sorted(result.recovered) == sorted(
        [
            "010-a: rolled back to revision 1",
            "010-b: revision 2 was deployed and is healthy",
            "010-c: revision 2 was deployed and is healthy",
            f"run {killed.id} marked interrupted",
        ]
    )
    assert result.result.outcome is RunOutcome.succeeded, result.result.summary()
    assert {rid: r.phase.value for rid, r in result.result.releases.items()} == {
        "010-a": "healthy",
        "010-b": "unchanged",
        "010-c": "unchanged",
        "020-d": "unchanged",
    }
    for rid in ("010-a", "010-b", "010-c"):
        assert await deployed_version(sp, kube_target, rid) == "v2"
    await assert_ledger_matches_helm(sp, kube_target, sp.ids)


async def test_recover_itself_killed_is_recovered_by_the_next_recover(
    synth: Callable[..., SynthPlatform], kube_target: KubeTarget
) -> None:
    """A deploy dies with its helm in pending-upgrade; the `gripctl recover` that unlocks it dies too,
    right after its helm rollback and before recording it. The next recover closes both dead runs and
    finds the release rolled back and healthy; the ledger names the revision the dead recover made."""
    sp = synth({"010-a": []})
    assert (await run(sp)).result.outcome is RunOutcome.succeeded
    sp.set_values("010-a", version="v2", hangingHook=True)
    kube = Kube(kube_target)
    proc = start_cli(sp)

    def pending_upgrade(_led: object) -> bool:
        found, _ = kube.list_objects(
            "Secret", sp.namespace, label_selector="owner=helm,status=pending-upgrade"
        )
        return bool(found)

    await kill_when(proc, sp, pending_upgrade, group=True)  # type: ignore[arg-type]
    deploy_run = ledger_of(sp).runs(limit=1)[0].id
    killed_at(
        start_cli(
            sp, "recover", "-e", sp.environment, kill_at="gripctl.engine.ports:HelmCLI.rollback", when="after"
        )
    )
    led = ledger_of(sp)
    recover_run = led.runs(limit=1)[0]
    assert recover_run.kind.value == "recover" and recover_run.outcome is RunOutcome.running
    assert [(e.revision, e.status) for e in await history(sp, kube_target, "010-a")] == [
        (1, "superseded"),
        (2, "pending-upgrade"),
        (3, "deployed"),
    ]

    done = await recover(RecoverRequest(sp.root, sp.environment))
    # Each dead run's leftover is looked at: the same healthy revision, verified for each.
    assert sorted(done.recovered) == sorted(
        [
            "010-a: revision 3 was deployed and is healthy",
            "010-a: revision 3 was deployed and is healthy",
            f"run {deploy_run} marked interrupted",
            f"run {recover_run.id} marked interrupted",
        ]
    ), done.recovered
    assert await deployed_version(sp, kube_target, "010-a") == "v1"
    assert len(await history(sp, kube_target, "010-a")) == 3  # nothing more was needed
    await assert_ledger_matches_helm(sp, kube_target, sp.ids)


async def test_manual_rollback_killed_after_helm_is_verified_by_recovery(
    synth: Callable[..., SynthPlatform], kube_target: KubeTarget
) -> None:
    """`gripctl rollback 010-a 1` dies after helm rolled back and before it verified or recorded it.
    Recovery verifies the revision the rollback made: healthy, so the person's rollback stands."""
    sp = synth({"010-a": []})
    assert (await run(sp)).result.outcome is RunOutcome.succeeded
    sp.set_values("010-a", version="v2")
    assert (await run(sp)).result.outcome is RunOutcome.succeeded
    killed_at(
        start_cli(
            sp,
            "rollback",
            "010-a",
            "1",
            "-e",
            sp.environment,
            kill_at="gripctl.engine.ports:HelmCLI.rollback",
            when="after",
        )
    )
    led = ledger_of(sp)
    killed = led.run(led.runs(limit=1)[0].id)
    assert killed is not None and killed.kind.value == "rollback"
    assert [(a.action, a.outcome) for a in killed.actions] == [(ActionKind.rollback, ActionOutcome.running)]

    done = gripctl(sp, "-o", "json", "recover", "-e", sp.environment)
    assert done.returncode == 0, done.stderr
    assert "010-a: revision 3 was deployed and is healthy" in done.stdout, done.stdout
    assert await deployed_version(sp, kube_target, "010-a") == "v1"
    closed = led.run(killed.id)
    assert closed is not None and closed.outcome is RunOutcome.interrupted
    await assert_ledger_matches_helm(sp, kube_target, sp.ids)
