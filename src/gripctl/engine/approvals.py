"""Approvals: an environment with `approval: required` changes only with an approval of *that* plan,
given by an allowed approver who proved who they are, and — four eyes — not by whoever requested it.

An approval counts when it is authenticated: given through the server's API with a token
(`token`/`api`), or signed with the approver's SSH key (`ssh`: `ssh-keygen -Y sign`, verified against
the allowed-signers file gripctl.yaml names in `approvals.allowed_signers`). A name typed after `--as`
proves nothing and no longer counts. Every approval expires (the environment's `approval_expiry`,
24 h by default); a rejection vetoes the plan for good.

On a terminal, where four eyes are not required (`four_eyes: false`), the operator may approve their
own deploy after seeing the plan summary: the approval is signed with their SSH key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gripctl.errors import ApprovalError, UsageError
from gripctl.ledger.store import Ledger
from gripctl.ledger.types import ApprovalMethod, ApprovalRecord, PlanRecord
from gripctl.model.types import Approval, Environment
from gripctl.plan.types import Plan

AUTHENTICATED = frozenset({ApprovalMethod.ssh, ApprovalMethod.token, ApprovalMethod.api})
SIGNATURE_NAMESPACE = "gripctl-approval"
# A signed decision is accepted this long after (or before: clock skew) the time it names, so that a
# signature found later (in a log, a shell history) cannot be replayed once its approval expired.
SIGNATURE_MAX_AGE = timedelta(minutes=10)


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


# -- SSH-signed decisions ------------------------------------------------------------------------------


def decision_message(decision: str, plan_digest: str, environment: str, signed_at: str) -> bytes:
    """The exact text an approver signs: the decision, the plan's digest, the environment and the time.
    The signer's name is not in it: the allowed-signers file says whose key made the signature."""
    return (
        f"gripctl decision v1\ndecision: {decision}\nplan: {plan_digest}\n"
        f"environment: {environment}\nsigned-at: {signed_at}\n"
    ).encode()


@dataclass(frozen=True)
class SignedDecision:
    """A decision signed with `ssh-keygen -Y sign -n gripctl-approval` over `decision_message(...)`."""

    signature: str  # the armored SSH signature
    signed_at: str  # ISO 8601 UTC, as in the signed message


def sign_decision(key: Path, decision: str, plan_digest: str, environment: str) -> SignedDecision:
    from gripctl.adapters import ssh

    signed_at = datetime.now(UTC).replace(microsecond=0).isoformat()
    message = decision_message(decision, plan_digest, environment, signed_at)
    return SignedDecision(ssh.sign(key, SIGNATURE_NAMESPACE, message), signed_at)


def signer_of(
    allowed_signers: Path | None,
    decision: str,
    plan_digest: str,
    environment: str,
    signed: SignedDecision,
    *,
    now: datetime | None = None,
) -> str:
    """The principal whose key (listed in `allowed_signers`) signed exactly this decision, recently;
    ApprovalError otherwise."""
    from gripctl.adapters import ssh

    if allowed_signers is None:
        raise ApprovalError(
            "SSH-signed approvals need an allowed-signers file, and gripctl.yaml names none",
            hint='commit one (`PRINCIPAL namespaces="gripctl-approval" ssh-ed25519 AAAA...` per line, '
            "as for git) and set `approvals: {allowed_signers: PATH}` in gripctl.yaml",
        )
    try:
        when = datetime.fromisoformat(signed.signed_at)
    except ValueError:
        raise ApprovalError(f"the signed time {signed.signed_at!r} is not an ISO 8601 time") from None
    now = now or datetime.now(UTC)
    if when.tzinfo is None or abs(now - when) > SIGNATURE_MAX_AGE:
        raise ApprovalError(
            f"the signature was made at {signed.signed_at}, more than {SIGNATURE_MAX_AGE} from now",
            hint="sign the decision again (a signature counts only while fresh: it cannot be replayed)",
        )
    message = decision_message(decision, plan_digest, environment, signed.signed_at)
    name = allowed_signers.name
    principals = ssh.find_principals(allowed_signers, signed.signature)
    if not principals:
        raise ApprovalError(
            f"the key that signed this {decision} is not in the allowed signers file {name}",
            hint="add the approver's public key to it (a reviewed commit), or sign with a key it lists",
        )
    for principal in principals:
        if ssh.verify(allowed_signers, principal, SIGNATURE_NAMESPACE, message, signed.signature):
            return principal
    raise ApprovalError(
        f"the signature does not verify for {decision} of plan {plan_digest[:12]} in {environment} "
        f"(signers file {name}, principals {', '.join(principals)})",
        hint="sign exactly this plan and decision (`gripctl approve PLAN_ID --sign KEY`)",
    )


# -- what a deploy checks ------------------------------------------------------------------------------


def counts(environment: Environment, approval: ApprovalRecord, excluded: set[str]) -> bool:
    """An approval that lets a deploy go: authenticated, by an allowed approver, and (four eyes) by
    somebody other than the plan's requester and the person deploying."""
    if approval.method not in AUTHENTICATED or not allowed(environment, approval.approver):
        return False
    return not (environment.four_eyes and approval.approver in excluded)


def how_to_approve(plan_id: str, environment: str) -> str:
    return (
        f"`gripctl approve {plan_id} -e {environment} --sign ~/.ssh/id_ed25519` (an SSH key in the "
        "allowed signers file), or approve it on the dashboard / with `--server URL --token TOKEN`"
    )


def require_approval(
    ledger: Ledger,
    environment: Environment,
    plan: Plan,
    *,
    actor: str,
    confirm: Callable[[str], bool] | None,
    save_plan: Callable[[], PlanRecord],
    sign: Callable[[str, str], SignedDecision] | None = None,
    allowed_signers: Path | None = None,
) -> str | None:
    """The approver of this plan, or ApprovalError. `confirm` (a TTY prompt) is None when not
    interactive; `sign(plan_digest, environment)` signs the operator's approval at the terminal.

    Returns None when no approval is needed (approval: none, or a plan without changes).
    """
    if environment.approval is not Approval.required or not plan.has_changes:
        return None
    record = save_plan()  # so that `gripctl approve PLAN_ID` finds it
    excluded = {actor} | ({record.requested_by} if record.requested_by else set())
    for approval in ledger.valid_approvals(plan.digest):
        if counts(environment, approval, excluded):
            return approval.approver
    who = ", ".join(environment.approvers) if environment.approvers else "anyone"
    if confirm is not None:
        if environment.four_eyes:
            raise ApprovalError(
                f"{environment.name} requires four eyes: {actor} cannot approve a plan they deploy",
                hint=f"ask an approver ({who}) other than {actor}: "
                + how_to_approve(plan.id, environment.name),
            )
        if not allowed(environment, actor):
            raise ApprovalError(
                f"{actor!r} may not approve changes to {environment.name} (approvers: {who})",
                hint=f"ask one of them: {how_to_approve(plan.id, environment.name)}",
            )
        if sign is None:
            raise ApprovalError(
                f"approving the deploy to {environment.name} at the terminal needs your SSH key",
                hint="pass --sign KEY (or set GRIPCTL_SIGNING_KEY) with a key in the allowed signers file",
            )
        if not confirm(plan_summary(plan)):
            raise ApprovalError(f"deploy to {environment.name} not confirmed; nothing was changed")
        signer = signer_of(
            allowed_signers, "approve", plan.digest, environment.name, sign(plan.digest, environment.name)
        )
        if signer != actor:
            raise ApprovalError(
                f"the key you signed with belongs to {signer!r}, not to {actor!r} who is deploying",
                hint="sign with your own key, or deploy as its owner",
            )
        expires = datetime.now(UTC) + timedelta(seconds=environment.approval_expiry_seconds)
        ledger.approve(
            plan.digest, actor, "confirmed at the terminal", method=ApprovalMethod.ssh, expires_at=expires
        )
        return actor
    valid = ledger.valid_approvals(plan.digest)
    if any(a.approver in excluded and environment.four_eyes for a in valid):
        raise ApprovalError(
            f"{environment.name} requires four eyes: the approval of plan {plan.id} on record is by "
            f"{', '.join(sorted({a.approver for a in valid} & excluded))}, who requested or deploys it",
            hint=f"another approver ({who}) approves it: {how_to_approve(plan.id, environment.name)}",
        )
    if any(a.method not in AUTHENTICATED for a in valid):
        raise ApprovalError(
            f"{environment.name} requires an authenticated approval of plan {plan.id}; the one on record "
            "was given by name only (--as), which no longer counts",
            hint=f"an approver ({who}) approves it again: {how_to_approve(plan.id, environment.name)}",
        )
    other = ledger.latest_other_approval(environment.name, plan.digest)
    if other is not None:
        raise ApprovalError(
            f"{environment.name} requires an approval of plan {plan.id}; the approval on record "
            f"(by {other.approver}) is for a different plan, {other.plan_id}: something changed since it was "
            "approved",
            hint=f"review `gripctl plan -e {environment.name}`, then an approver ({who}) approves it: "
            + how_to_approve(plan.id, environment.name),
        )
    raise ApprovalError(
        f"{environment.name} requires an approval of plan {plan.id} and none is recorded",
        hint=f"an approver ({who}) approves it: {how_to_approve(plan.id, environment.name)}; "
        "then re-run the deploy",
    )


# -- recording decisions -------------------------------------------------------------------------------


def _decidable(ledger: Ledger, environment: Environment, plan_id: str) -> PlanRecord:
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
    return record


def approve(
    ledger: Ledger,
    environment: Environment,
    plan_id: str,
    approver: str,
    comment: str | None,
    *,
    method: ApprovalMethod,
) -> ApprovalRecord:
    """Record an authenticated approval by an allowed approver (not the plan's requester where four eyes
    are required), expiring after the environment's `approval_expiry`."""
    record = _decidable(ledger, environment, plan_id)
    if method not in AUTHENTICATED:
        raise ApprovalError(
            f"an approval of plan {record.id} must be authenticated; "
            f"a name alone ({approver!r}) proves nothing",
            hint=how_to_approve(record.id, environment.name),
        )
    if not allowed(environment, approver):
        raise ApprovalError(
            f"{approver!r} may not approve changes to {environment.name}",
            hint=f"approvers: {', '.join(environment.approvers)}",
        )
    if environment.four_eyes and record.requested_by == approver:
        raise ApprovalError(
            f"{approver} requested plan {record.id} and cannot approve it: "
            f"{environment.name} requires four eyes",
            hint="another approver reviews and approves it",
        )
    expires = datetime.now(UTC) + timedelta(seconds=environment.approval_expiry_seconds)
    return ledger.approve(record.digest, approver, comment, method=method, expires_at=expires)


def reject(
    ledger: Ledger,
    environment: Environment,
    plan_id: str,
    who: str,
    reason: str,
    *,
    method: ApprovalMethod,
) -> ApprovalRecord:
    """Record an authenticated rejection by an allowed approver: the plan can never be approved."""
    record = _decidable(ledger, environment, plan_id)
    if method not in AUTHENTICATED:
        raise ApprovalError(
            f"a rejection of plan {record.id} must be authenticated",
            hint=how_to_approve(record.id, environment.name),
        )
    if not allowed(environment, who):
        raise ApprovalError(
            f"{who!r} may not decide on changes to {environment.name}",
            hint=f"approvers: {', '.join(environment.approvers)}",
        )
    return ledger.reject(record.digest, who, reason, method=method)
