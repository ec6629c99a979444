"""Approvals: an environment with `approval: required` changes only with an approval of *that* plan.

On a terminal the operator confirms interactively after seeing the plan summary (and is recorded as
the approver). Without a terminal an approval must already be in the ledger, given by an allowed
approver for exactly this plan's digest (`gripctl approve PLAN_ID`).
"""

from __future__ import annotations

from collections.abc import Callable

from gripctl.errors import ApprovalError, UsageError
from gripctl.ledger.store import Ledger
from gripctl.model.types import Approval, Environment
from gripctl.plan.types import Plan


def allowed(environment: Environment, who: str) -> bool:
    """No `approvers` list means anyone may approve (the approval itself is what is required)."""
    return not environment.approvers or who in environment.approvers


def plan_summary(plan: Plan) -> str:
    lines = [f"plan {plan.id} for {plan.environment}:"]
    for rp in plan.releases:
        if rp.changed:
            version = rp.desired_chart_version
            was = f" (was {rp.live_chart_version}, revision {rp.live_revision})" if rp.live_revision else ""
            lines.append(f"  {rp.action.value:8} {rp.release_id} {version}{was}: {rp.reason}")
    unchanged = sum(1 for rp in plan.releases if not rp.changed)
    if unchanged:
        lines.append(f"  ({unchanged} unchanged)")
    return "\n".join(lines)


def require_approval(
    ledger: Ledger,
    environment: Environment,
    plan: Plan,
    *,
    actor: str,
    confirm: Callable[[str], bool] | None,
    save_plan: Callable[[], object],
) -> str | None:
    """The approver of this plan, or ApprovalError. `confirm` (a TTY prompt) is None when not interactive.

    Returns None when no approval is needed (approval: none, or a plan without changes).
    """
    if environment.approval is not Approval.required or not plan.has_changes:
        return None
    save_plan()  # so that `gripctl approve PLAN_ID` finds it
    for approval in ledger.valid_approvals(plan.digest):
        if allowed(environment, approval.approver):
            return approval.approver
    who = ", ".join(environment.approvers) if environment.approvers else "anyone"
    if confirm is not None:
        if not allowed(environment, actor):
            raise ApprovalError(
                f"{actor!r} may not approve changes to {environment.name} (approvers: {who})",
                hint=f"ask one of them to run `gripctl approve {plan.id} -e {environment.name}`",
            )
        if not confirm(plan_summary(plan)):
            raise ApprovalError(f"deploy to {environment.name} not confirmed; nothing was changed")
        ledger.approve(plan.digest, actor, "confirmed interactively")
        return actor
    other = ledger.latest_other_approval(environment.name, plan.digest)
    first = environment.approvers[0] if environment.approvers else "NAME"
    command = f"gripctl approve {plan.id} -e {environment.name} --as {first}"
    if other is not None:
        raise ApprovalError(
            f"{environment.name} requires an approval of plan {plan.id}; the approval on record "
            f"(by {other.approver}) is for a different plan, {other.plan_id}: something changed since it was "
            "approved",
            hint=f"review `gripctl plan -e {environment.name}`, then an approver ({who}) runs `{command}`",
        )
    raise ApprovalError(
        f"{environment.name} requires an approval of plan {plan.id} and none is recorded",
        hint=f"an approver ({who}) runs `{command}`, then re-run the deploy",
    )


def approve(
    ledger: Ledger, environment: Environment, plan_id: str, approver: str, comment: str | None
) -> str:
    """`gripctl approve PLAN_ID`: record an allowed approver's approval; returns the plan's digest."""
    record = ledger.get_plan(plan_id)
    if record is None:
        raise UsageError(
            f"no plan {plan_id!r} in the ledger",
            hint=f"`gripctl plan -e {environment.name}` records the plan and prints its id",
        )
    if record.environment != environment.name:
        raise UsageError(
            f"plan {record.id} is for environment {record.environment!r}, not {environment.name!r}",
            hint=f"use `-e {record.environment}`",
        )
    if not allowed(environment, approver):
        raise ApprovalError(
            f"{approver!r} may not approve changes to {environment.name}",
            hint=f"approvers: {', '.join(environment.approvers)} (identity from --as, GRIPCTL_USER or $USER)",
        )
    ledger.approve(record.digest, approver, comment)
    return record.digest
