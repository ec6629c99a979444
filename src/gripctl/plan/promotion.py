"""The promotion rule (`promote_from`): which changes of a plan have not yet succeeded upstream. Pure.

An environment with `promote_from: staging` deploys a release only in a version that staging ran
successfully: the same chart version with the same values *as staging renders them from the same
repository* (the environments' own values files differ by design; what must have been proven is
this commit's release in staging). The service supplies, per changed release, that chart version and
staging's values digest, and asks the ledger whether it succeeded there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from gripctl.plan.types import Action, Plan

# Actions that deploy the repository's desired state: what promotion guards. (`blocked` is refused
# anyway; `noop` deploys nothing.)
DEPLOYING = (Action.install, Action.upgrade, Action.unlock)


@dataclass(frozen=True)
class Unpromoted:
    """A release the plan would deploy that its source environment has not run successfully."""

    release_id: str
    chart_version: str
    values_digest: str  # the source environment's digest of the values (never the values)

    def line(self) -> str:
        return f"{self.release_id}: chart {self.chart_version}, values {self.values_digest[:12]}"


def unpromoted(
    plan: Plan,
    expected: Mapping[str, tuple[str, str]],
    succeeded: Callable[[str, str, str], bool],
) -> list[Unpromoted]:
    """The releases of `plan` that would be deployed and have not succeeded upstream, in plan order.

    `expected` maps a release id to (chart version, values digest) as the source environment renders
    it; `succeeded(release_id, chart_version, values_digest)` asks the record.
    """
    missing = []
    for rp in plan.releases:
        if rp.action not in DEPLOYING:
            continue
        version, digest = expected[rp.release_id]
        if not succeeded(rp.release_id, version, digest):
            missing.append(Unpromoted(rp.release_id, version, digest))
    return missing
