"""Install and Upgrade record the digest of the values they apply; a promotion asks the ledger for it.

Real runner, actions and SQLite ledger; helm and the cluster are the in-memory fakes (fakes.py).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from fakes import FakeCluster, FakeHelm

from gripctl.engine.actions import ActionContext
from gripctl.engine.events import Emitter
from gripctl.engine.release import ReleaseRun
from gripctl.engine.runner import Runner, RunOptions
from gripctl.ledger import open_ledger
from gripctl.ledger.types import RunKind, RunOutcome
from gripctl.model.types import Environment, Platform, Release
from gripctl.plan.serialize import plan_from_dict, plan_to_dict
from gripctl.plan.types import Action, Plan, ReleasePlan, ReleaseStatus

DIGEST = hashlib.sha256(b"values of 010-web").hexdigest()


def _release(tmp: Path) -> Release:
    return Release(id="010-web", name="web", namespace="ns", chart_path=tmp / "web", order=10)


async def _deploy(tmp: Path, env: str, rp: ReleasePlan, *, healthy: bool = True) -> RunOutcome:
    environment = Environment(env, None)
    platform = Platform(
        tmp, tmp / "gripctl.yaml", environment, {env: environment}, {"010-web": _release(tmp)}
    )
    ledger = open_ledger(f"sqlite:///{tmp / 'ledger.sqlite'}")
    helm, cluster = FakeHelm(), FakeCluster()
    if not healthy:
        helm.versions["web"] = "bad"
        cluster.unhealthy = {"bad"}
    run_id = ledger.start_run(env, RunKind.deploy, "tester", None, None)
    ctx = ActionContext(platform, ledger, run_id, helm, cluster, Emitter([]))
    rr = ReleaseRun(platform.releases["010-web"], rp)
    result = await Runner(ctx, [rr], RunOptions(1)).run()
    ledger.finish_run(run_id, result.outcome, result.error())
    return result.outcome


def _plan(digest: str | None) -> ReleasePlan:
    return ReleasePlan(
        "010-web",
        "web",
        "ns",
        Action.install,
        ReleaseStatus.absent,
        None,
        None,
        "1.2.0",
        values_digest=digest,
    )


async def test_an_install_records_the_planned_values_digest_and_succeeded_in_finds_it(tmp_path: Path) -> None:
    assert await _deploy(tmp_path, "staging", _plan(DIGEST)) is RunOutcome.succeeded
    ledger = open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    [run] = ledger.runs("staging")
    record = ledger.run(run.id)
    assert record is not None
    assert [(a.action.value, a.chart_version, a.values_digest) for a in record.actions] == [
        ("install", "1.2.0", DIGEST)
    ]
    assert ledger.succeeded_in("staging", "010-web", "1.2.0", DIGEST)
    other = hashlib.sha256(b"other values").hexdigest()
    assert not ledger.succeeded_in("staging", "010-web", "1.2.0", other)  # same chart, other values
    assert not ledger.succeeded_in("staging", "010-web", "1.2.1", DIGEST)  # same values, other chart
    assert not ledger.succeeded_in("production", "010-web", "1.2.0", DIGEST)  # another environment


async def test_a_failed_install_never_counts_as_succeeded(tmp_path: Path) -> None:
    assert await _deploy(tmp_path, "staging", _plan(DIGEST), healthy=False) is not RunOutcome.succeeded
    ledger = open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    assert not ledger.succeeded_in("staging", "010-web", "1.2.0", DIGEST)


def test_the_values_digest_survives_plan_json() -> None:
    plan = Plan("staging", (_plan(DIGEST),), (("010-web",),), "d" * 64, "2026-01-01T00:00:00+00:00")
    again = plan_from_dict(plan_to_dict(plan))
    assert again.releases[0].values_digest == DIGEST and again == plan
    old = plan_to_dict(plan)
    del old["releases"][0]["values_digest"]  # a plan.json written before the field existed
    assert plan_from_dict(old).releases[0].values_digest is None
