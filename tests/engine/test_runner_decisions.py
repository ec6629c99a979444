"""The engine's decisions, with helm and the cluster replaced by in-memory fakes (tests/engine/fakes.py).

Real SQLite ledger, real runner, real actions and lifecycle bookkeeping; only the two ports are fake.
What is checked: dependency order and parallel branches, fail-fast (halt) and skipped dependents,
remediation by policy, rollback-run order, a rollback that itself fails, helm failing before it
changed anything, unlocking, recovery choices, a lost lock, and that every ledger action is finished
whatever happens. The same behaviours are checked against the sandbox in test_deploy_cluster.py.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from fakes import FakeCluster, FakeHelm

from gripctl.engine.actions import ActionContext, Install, Rollback, Uninstall, Unlock, Upgrade, Verify
from gripctl.engine.decide import next_action
from gripctl.engine.events import Emitter, EngineEvent, EventKind, Phase
from gripctl.engine.recover import leftover, outcome_line
from gripctl.engine.release import Goal, ReleaseRun, standalone
from gripctl.engine.runner import OnFailure, Runner, RunOptions, drive
from gripctl.errors import LockLostError
from gripctl.ledger import open_ledger
from gripctl.ledger.store import Ledger
from gripctl.ledger.types import ActionKind, ActionOutcome, RunKind, RunOutcome
from gripctl.model.types import Environment, Platform, Release, Remediation
from gripctl.observe.types import ReleaseStatus
from gripctl.plan.types import Action, ReleasePlan

DIAMOND = {"010-a": [], "020-b": ["010-a"], "020-c": ["010-a"], "030-d": ["020-b", "020-c"]}


class Events:
    def __init__(self) -> None:
        self.seen: list[EngineEvent] = []

    def handle(self, event: EngineEvent) -> None:
        self.seen.append(event)

    def close(self) -> None:
        pass

    def phases(self, rid: str) -> list[str]:
        return [
            e.phase.value
            for e in self.seen
            if e.release_id == rid and e.phase and e.kind is not EventKind.note
        ]


class World:
    """A platform of releases named by id, a ledger, fakes, and a started run."""

    def __init__(self, tmp: Path, needs: dict[str, list[str]], **release_kw: object) -> None:
        self.releases = {
            rid: Release(
                id=rid,
                name=rid.split("-", 1)[1],
                namespace="ns",
                chart_path=tmp / rid,
                order=int(rid.split("-")[0]),
                needs=tuple(deps),
                **release_kw,  # type: ignore[arg-type]
            )
            for rid, deps in needs.items()
        }
        env = Environment("test", None)
        self.platform = Platform(tmp, tmp / "gripctl.yaml", env, {"test": env}, self.releases)
        self.ledger: Ledger = open_ledger(f"sqlite:///{tmp / 'ledger.sqlite'}")
        self.helm, self.cluster, self.events = FakeHelm(), FakeCluster(), Events()
        self.run_id = self.ledger.start_run("test", RunKind.deploy, "tester", None, None)
        self.ctx = ActionContext(
            self.platform, self.ledger, self.run_id, self.helm, self.cluster, Emitter([self.events])
        )

    def plan(self, rid: str, action: Action = Action.install) -> ReleasePlan:
        r = self.releases[rid]
        live = self.helm.releases.get(r.name)
        status = ReleaseStatus.absent if not live else ReleaseStatus.deployed
        if live and live[-1].status.startswith("pending-"):
            status = ReleaseStatus.locked
        deployed = max((x.number for x in live or [] if x.status in ("deployed", "superseded")), default=None)
        return ReleasePlan(
            rid, r.name, "ns", action, status, live[-1].number if live else None, None, "1.0.0",
            needs=r.needs, deployed_revision=deployed, helm_status=live[-1].status if live else None,
        )  # fmt: skip

    def runs(self, actions: dict[str, Action] | None = None) -> list[ReleaseRun]:
        out = []
        for rid in self.releases:
            plan = self.plan(
                rid,
                (actions or {}).get(rid, Action.install if rid not in self._installed() else Action.upgrade),
            )
            prev = plan.live_revision if plan.status is ReleaseStatus.deployed else plan.deployed_revision
            out.append(
                ReleaseRun(
                    self.releases[rid],
                    plan,
                    previous_good=prev,
                    locked=plan.action is Action.unlock,
                    revision=plan.live_revision,
                )
            )
        return out

    def _installed(self) -> set[str]:
        return {rid for rid, r in self.releases.items() if r.name in self.helm.releases}

    async def run(
        self, on_failure: OnFailure = OnFailure.halt, concurrency: int = 4, **kw: Action
    ) -> dict[str, ReleaseRun]:
        result = await Runner(self.ctx, self.runs(kw or None), RunOptions(concurrency, on_failure, 0.0)).run()
        self.outcome = result.outcome
        return result.releases

    def actions(self) -> list[tuple[str, str, str]]:
        record = self.ledger.run(self.run_id)
        assert record is not None
        return [(a.release_id, a.action.value, a.outcome.value) for a in record.actions]


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path, DIAMOND)


async def test_dependency_order_with_parallel_branches(world: World) -> None:
    world.helm.delay = 0.02
    done = await world.run()
    assert {rid: rr.phase for rid, rr in done.items()} == dict.fromkeys(DIAMOND, Phase.healthy)
    order = [name for op, name in world.helm.calls]
    assert order[0] == "a" and order[-1] == "d" and set(order[1:3]) == {"b", "c"}
    assert world.helm.max_running == 2  # b and c at once, never more: nothing else was ready
    assert world.actions() == [(rid, "install", "succeeded") for rid in ("010-a", "020-b", "020-c", "030-d")]
    assert world.outcome is RunOutcome.succeeded


async def test_concurrency_one_is_serial_in_topological_order(world: World) -> None:
    world.helm.delay = 0.01
    await world.run(concurrency=1)
    assert world.helm.max_running == 1
    assert [n for _, n in world.helm.calls] == ["a", "b", "c", "d"]


async def test_failed_verification_rolls_back_and_skips_dependents(world: World) -> None:
    for name in "abcd":
        world.helm.seed(name, ("deployed", "v1"))
        world.helm.versions[name] = "v2"
    world.cluster.unhealthy = {"v2-b"}
    world.helm.versions["b"] = "v2-b"
    done = await world.run()
    b = done["020-b"]
    assert b.phase is Phase.rolled_back and "CrashLoopBackOff" in b.reason and "revision 1" in b.reason
    assert world.helm.version("b") == "v1"  # rolled back to what ran before the run
    assert done["030-d"].phase is Phase.skipped and "020-b" in done["030-d"].reason
    assert world.helm.version("d") == "v1"  # never touched
    assert done["020-c"].phase is Phase.healthy  # already running when b failed: it finished
    assert ("020-b", "upgrade", "failed") in world.actions() and (
        "020-b",
        "rollback",
        "succeeded",
    ) in world.actions()
    assert world.outcome is RunOutcome.rolled_back
    remediation = [
        e for e in world.events.seen if e.kind is EventKind.remediation and e.release_id == "020-b"
    ]
    assert remediation and "detect_to_remediation_seconds" in remediation[0].data


async def test_halt_starts_nothing_new_after_a_failure(tmp_path: Path) -> None:
    w = World(tmp_path, {"010-a": [], "020-b": [], "030-c": []})
    w.cluster.unhealthy = {"bad"}
    w.helm.versions["a"] = "bad"
    done = await w.run(concurrency=1)
    assert done["010-a"].phase is Phase.uninstalled  # a failed first install is uninstalled
    assert done["020-b"].phase is Phase.skipped and "halted after 010-a" in done["020-b"].reason
    assert [c for c in w.helm.calls] == [("upgrade", "a"), ("uninstall", "a")]
    assert "a" not in w.helm.releases


async def test_helm_failing_before_any_revision_changes_nothing_and_remediates_nothing(world: World) -> None:
    world.helm.seed("a", ("deployed", "v1"))
    world.helm.fail_upgrade["a"] = ("Error: UPGRADE FAILED: field not declared in schema", False)
    done = await world.run()
    a = done["010-a"]
    assert a.phase is Phase.failed and "nothing changed" in a.reason and "not declared" in a.reason
    assert world.helm.calls == [("upgrade", "a")]  # no rollback of what never changed
    assert world.actions() == [("010-a", "upgrade", "failed")]
    assert all(rr.phase is Phase.skipped for rid, rr in done.items() if rid != "010-a")


async def test_remediation_none_leaves_the_failed_release(tmp_path: Path) -> None:
    w = World(tmp_path, {"010-a": []}, remediation=Remediation.none)
    w.helm.seed("a", ("deployed", "v1"))
    w.helm.versions["a"] = "v2"
    w.cluster.unhealthy = {"v2"}
    done = await w.run()
    assert done["010-a"].phase is Phase.failed and w.helm.version("a") == "v2"
    assert w.actions() == [("010-a", "upgrade", "failed")]


async def test_a_rollback_that_fails_too_is_a_failure_with_both_reasons_and_closed_records(
    world: World,
) -> None:
    world.helm.seed("a", ("deployed", "v1"))
    world.helm.versions["a"] = "v2"
    world.cluster.unhealthy = {"v2"}
    world.helm.fail_rollback["a"] = "Error: timed out waiting for the condition"
    done = await world.run()
    a = done["010-a"]
    assert (
        a.phase is Phase.failed
        and "CrashLoopBackOff" in a.reason
        and "rollback to revision 1 failed" in a.reason
    )
    assert world.actions() == [("010-a", "upgrade", "failed"), ("010-a", "rollback", "failed")]
    assert world.outcome is RunOutcome.failed


async def test_rollback_run_restores_every_changed_release_in_reverse_order(world: World) -> None:
    for name in "abc":
        world.helm.seed(name, ("deployed", "v1"))
        world.helm.versions[name] = "v2"
    world.helm.versions["d"] = "bad"  # d is a first install that fails
    world.cluster.unhealthy = {"bad"}
    done = await world.run(on_failure=OnFailure.rollback_run)
    assert done["030-d"].phase is Phase.uninstalled
    restores = [(op, n) for op, n in world.helm.calls if op in ("rollback", "uninstall")]
    assert restores[0] == ("uninstall", "d")  # its own remediation first
    assert [n for _, n in restores[1:]] in (["c", "b", "a"], ["b", "c", "a"])  # dependents before needs
    assert all(world.helm.version(n) == "v1" for n in "abc")
    assert all(done[rid].phase is Phase.rolled_back for rid in ("010-a", "020-b", "020-c"))


async def test_unlock_then_upgrade(world: World) -> None:
    world.helm.seed("a", ("deployed", "v1"), ("pending-upgrade", "v2"))
    world.helm.versions["a"] = "v3"
    done = await world.run(**{"010-a": Action.unlock})
    assert done["010-a"].phase is Phase.healthy and world.helm.version("a") == "v3"
    assert world.helm.calls[:2] == [("rollback", "a"), ("upgrade", "a")]
    assert world.actions()[:2] == [("010-a", "unlock", "succeeded"), ("010-a", "upgrade", "succeeded")]


async def test_a_lost_lock_stops_before_any_helm_call(world: World) -> None:
    async def lost() -> None:
        raise LockLostError("run 1 lost the lock of environment 'test'")

    world.ctx.guard = lost
    done = await world.run()
    assert world.helm.calls == []
    assert done["010-a"].phase is Phase.failed and "lost the lock" in done["010-a"].reason
    assert all(done[rid].phase is Phase.skipped for rid in ("020-b", "020-c", "030-d"))


async def test_an_unexpected_error_fails_the_release_and_finishes_its_ledger_action(world: World) -> None:
    def boom(_manifest: str) -> None:
        raise RuntimeError("watch connection reset")

    world.cluster.on_verify = boom
    done = await world.run()
    assert done["010-a"].phase is Phase.failed and "internal error: RuntimeError" in done["010-a"].reason
    assert world.actions() == [("010-a", "install", "failed")]  # not left `running`


# -- recovery: what an interrupted run left, and what is done about it -----------------------------


async def test_recovery_unlocks_a_pending_release_to_the_revision_before_the_run(world: World) -> None:
    world.helm.seed("a", ("deployed", "v1"), ("pending-upgrade", "v2"))
    rr = await leftover(world.helm, world.releases["010-a"], good=1, known=True)
    assert rr is not None and rr.locked
    await drive(world.ctx, rr)
    assert outcome_line(rr, was_locked=True) == "rolled back to revision 1"
    assert world.helm.version("a") == "v1"


async def test_recovery_of_a_deployed_unverified_release(world: World) -> None:
    world.helm.seed("a", ("superseded", "v1"), ("failed", "v2"), ("deployed", "v2"))
    world.cluster.unhealthy = {"v2"}
    # The dead run upgraded from revision 1; helm's statuses would call revision 3 good.
    rr = await leftover(world.helm, world.releases["010-a"], good=1, known=True)
    assert rr is not None and not rr.locked
    await drive(world.ctx, rr)
    assert world.helm.version("a") == "v1"
    line = outcome_line(rr, was_locked=False)
    assert line.startswith("revision 3 was unhealthy (") and line.endswith("rolled back to 1")


async def test_recovery_leaves_a_healthy_release_and_uninstalls_an_unhealthy_first_install(
    tmp_path: Path,
) -> None:
    w = World(tmp_path, {"010-a": [], "020-b": []})
    w.helm.seed("a", ("deployed", "v1"))
    w.helm.seed("b", ("deployed", "bad"))
    w.cluster.unhealthy = {"bad"}
    a = await leftover(w.helm, w.releases["010-a"], good=None, known=False)
    b = await leftover(w.helm, w.releases["020-b"], good=None, known=True)
    assert a is not None and b is not None
    await asyncio.gather(drive(w.ctx, a), drive(w.ctx, b))
    assert outcome_line(a, False) == "revision 1 was deployed and is healthy" and w.helm.version("a") == "v1"
    assert outcome_line(b, False).endswith("uninstalled") and "b" not in w.helm.releases
    assert ("rollback", "a") not in w.helm.calls


async def test_nothing_left_behind_needs_no_recovery(world: World) -> None:
    assert await leftover(world.helm, world.releases["010-a"], good=None, known=True) is None
    world.helm.seed("a", ("deployed", "v1"), ("failed", "v2"))
    assert (
        await leftover(world.helm, world.releases["010-a"], good=1, known=True) is None
    )  # next plan upgrades


# -- the pure choice -----------------------------------------------------------------------------------


def _rr(world: World, goal: Goal = Goal.deploy, **state: object) -> ReleaseRun:
    return standalone(world.releases["010-a"], goal, **state)


def test_next_action_follows_the_state(world: World) -> None:
    assert next_action(_rr(world, locked=True, previous_good=3)) == Unlock()
    assert next_action(_rr(world)) == Install()
    assert next_action(_rr(world, previous_good=2)) == Upgrade()
    assert next_action(_rr(world, previous_good=2, applied=True), monitor_seconds=30) == Verify(30)
    assert next_action(_rr(world, previous_good=2, applied=True, verified=True)) is None
    failed = {"applied": True, "verified": False, "failure": "x", "changed": True}
    assert next_action(_rr(world, previous_good=2, **failed)) == Rollback(2)
    assert next_action(_rr(world, previous_good=None, revision=1, **failed)) == Uninstall()
    assert next_action(
        _rr(world, previous_good=2, **{**failed, "restored": True, "verified": None})
    ) == Verify(0.0)
    assert next_action(_rr(world, previous_good=2, failure="x", changed=False)) is None  # nothing changed
    assert next_action(_rr(world, previous_good=2, gave_up=True, **failed)) is None
    assert next_action(_rr(world, Goal.revision, target_revision=1)) == Rollback(1)
    assert next_action(_rr(world, Goal.revision, target_revision=1, applied=True)) == Verify(0.0)
    assert next_action(_rr(world, Goal.check, revision=4)) == Verify(0.0)
    assert next_action(_rr(world, Goal.check, revision=4, verified=True)) is None
    assert next_action(
        _rr(world, Goal.check, revision=4, verified=False, failure="x", previous_good=2)
    ) == Rollback(2)
    assert next_action(_rr(world, Goal.unlock, locked=True)) == Unlock()
    assert next_action(_rr(world, Goal.unlock)) is None


async def test_every_action_is_recorded_ahead_and_finished(world: World) -> None:
    """Write-ahead: the action is in the ledger (running) while helm works, and finished after."""
    seen_running: list[tuple[str, str]] = []

    def look(_manifest: str) -> None:
        record = world.ledger.run(world.run_id)
        assert record is not None
        seen_running.extend(
            (a.release_id, a.action.value) for a in record.actions if a.outcome is ActionOutcome.running
        )

    world.cluster.on_verify = look
    await world.run()
    assert ("010-a", ActionKind.install.value) in seen_running
    assert all(outcome == "succeeded" for _, _, outcome in world.actions())
