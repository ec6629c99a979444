"""The promotion gate of a deploy: `promote_from: SOURCE` refuses what SOURCE has not run successfully.

Refused before the run starts (nothing changed, nothing recorded), naming each release with its chart
version and a short digest of its values — never the values. `--force-promotion` deploys anyway; the
run's timeline records who overrode the rule and for which releases.
"""

from __future__ import annotations

from gripctl.digest import values_digest
from gripctl.errors import PolicyError
from gripctl.ledger.store import Ledger
from gripctl.model.types import Platform
from gripctl.observe.render import user_values
from gripctl.observe.types import Snapshot
from gripctl.plan.promotion import DEPLOYING, Unpromoted, unpromoted
from gripctl.plan.types import Plan
from gripctl.service.workspace import load


def unproven(platform: Platform, snap: Snapshot, plan: Plan, ledger: Ledger) -> list[Unpromoted]:
    """The releases `plan` would deploy that the environment's `promote_from` source has not run
    successfully with the same chart version and values (empty when there is no such rule)."""
    source_name = platform.environment.promote_from
    if source_name is None:
        return []
    source = load(platform.root, source_name)
    expected: dict[str, tuple[str, str]] = {}
    for rp in plan.releases:
        if rp.action not in DEPLOYING:
            continue
        desired = snap.desired[rp.release_id]
        # The secrets files are the same for every environment: the plan's decrypted copy serves.
        values = user_values(source, source.release(rp.release_id), desired.decrypted)
        expected[rp.release_id] = (desired.chart_version, values_digest(values))
    return unpromoted(
        plan, expected, lambda rid, version, digest: ledger.succeeded_in(source_name, rid, version, digest)
    )


def refusal(platform: Platform, missing: list[Unpromoted]) -> PolicyError:
    env = platform.environment
    source = env.promote_from
    lines = "\n".join(f"  {m.line()}" for m in missing)
    return PolicyError(
        f"{env.name} promotes from {source}: {len(missing)} release(s) have not succeeded in {source} "
        f"with this chart version and these values; nothing was changed:\n{lines}",
        location=platform.locations.get(f"environments.{env.name}.promote_from"),
        hint=f"deploy this commit to {source} first (`gripctl deploy -e {source}`), then here; or "
        "deploy anyway with --force-promotion (recorded in the run's timeline)",
    )


def override_note(actor: str, source: str, missing: list[Unpromoted]) -> str:
    return (
        f"promotion rule overridden by {actor} (--force-promotion): not yet succeeded in {source}: "
        + "; ".join(m.line() for m in missing)
    )
