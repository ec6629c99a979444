"""What a deploy does when the API server goes away under helm (fakes of the two ports; the real
outage is in tests/chaos/test_api_outage.py): helm stopped before changing anything is run again; helm
cut off half-way (the release left `pending-*`, its outcome unrecorded) is unlocked and run again; a
crash of any step closes the ledger action it had opened."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakes import FakeHelm
from test_runner_decisions import World

from gripctl.adapters.helm import Values
from gripctl.engine.events import Phase
from gripctl.engine.ports import Applied
from gripctl.errors import ClusterError, ToolError
from gripctl.ledger.types import RunOutcome
from gripctl.model.types import Release

REFUSED = 'Error: UPGRADE FAILED: Get "https://127.0.0.1:6443/api/v1/secrets": dial tcp: connection refused'


class CutOffHelm(FakeHelm):
    """The first `cuts` upgrades of `name` die with the API server: after writing the pending
    revision (`halfway`), or before touching anything."""

    def __init__(self, name: str, cuts: int, *, halfway: bool) -> None:
        super().__init__()
        self.name, self.cuts, self.halfway = name, cuts, halfway

    async def upgrade_install(
        self, release: Release, chart: Path, values: Values, *, create_namespace: bool, description: str
    ) -> Applied:
        if release.name == self.name and self.cuts > 0:
            self.cuts -= 1
            await self._mutate("upgrade", release.name)
            if self.halfway:
                self._add(release.name, "pending-upgrade", "version: v2", "Preparing upgrade")
            raise ToolError(f"helm upgrade --install failed (exit 1): {REFUSED}")
        return await super().upgrade_install(
            release, chart, values, create_namespace=create_namespace, description=description
        )


def _world(tmp_path: Path, helm: FakeHelm) -> World:
    w = World(tmp_path, {"010-a": []})
    w.helm = helm
    w.ctx.helm = helm
    helm.seed("a", ("deployed", "v1"))
    helm.versions["a"] = "v2"
    return w


async def test_helm_stopped_before_changing_anything_is_run_again(tmp_path: Path) -> None:
    w = _world(tmp_path, CutOffHelm("a", 2, halfway=False))
    done = await w.run()
    assert done["010-a"].phase is Phase.healthy and w.helm.version("a") == "v2"
    assert [op for op, _ in w.helm.calls] == ["upgrade", "upgrade", "upgrade"]
    assert w.actions() == [("010-a", "upgrade", "succeeded")]
    assert w.outcome is RunOutcome.succeeded


async def test_helm_cut_off_half_way_is_unlocked_and_run_again(tmp_path: Path) -> None:
    w = _world(tmp_path, CutOffHelm("a", 1, halfway=True))
    done = await w.run()
    assert done["010-a"].phase is Phase.healthy and w.helm.version("a") == "v2"
    # upgrade (cut off, left pending-upgrade at 2) -> rollback to 1 (as 3) -> upgrade (4)
    assert [op for op, _ in w.helm.calls] == ["upgrade", "rollback", "upgrade"]
    assert [r.status for r in w.helm.releases["a"]] == [
        "superseded",
        "pending-upgrade",
        "superseded",
        "deployed",
    ]
    assert w.actions() == [
        ("010-a", "upgrade", "failed"),
        ("010-a", "unlock", "succeeded"),
        ("010-a", "upgrade", "succeeded"),
    ]
    assert w.outcome is RunOutcome.succeeded


async def test_a_step_that_crashes_closes_the_action_it_opened(tmp_path: Path) -> None:
    class Unreachable(FakeHelm):
        async def rollback(self, release: Release, revision: int, *, description: str | None = None) -> None:
            raise ClusterError("the Kubernetes API did not answer for 6s: is the cluster up?")

    w = _world(tmp_path, Unreachable())
    w.cluster.unhealthy = {"v2"}  # the upgrade fails its verification: remediation rolls back
    done = await w.run()
    assert done["010-a"].phase is Phase.failed and "is the cluster up?" in done["010-a"].reason
    # Not left `running`: the rollback's write-ahead record is closed, with no revision (none was made).
    record = w.ledger.run(w.run_id)
    assert record is not None
    assert [(a.action.value, a.outcome.value, a.to_revision) for a in record.actions] == [
        ("upgrade", "failed", 2),
        ("rollback", "failed", None),
    ]


@pytest.mark.parametrize(
    ("message", "transient", "changed_nothing"),
    [
        (
            'Error: kubernetes cluster unreachable: Get "https://x/version": dial tcp: connection refused',
            True,
            True,
        ),
        (REFUSED, True, False),
        ("Error: etcdserver: request timed out", True, False),
        ("Error: the server is currently unable to handle the request (get secrets)", True, False),
        ('Error: UPGRADE FAILED: template: a/templates/x.yaml:3: function "nope" not defined', False, False),
        ("Error: release: not found", False, False),
    ],
)
def test_which_helm_failures_are_an_outage(message: str, transient: bool, changed_nothing: bool) -> None:
    from gripctl.adapters.retry import helm_changed_nothing, helm_transient

    assert helm_transient(message) is transient
    assert helm_changed_nothing(message) is changed_nothing
