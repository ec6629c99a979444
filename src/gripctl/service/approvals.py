"""Approvals of plans: an environment with `approval: required` changes only with an authenticated
approval of that plan, by someone other than its requester (four eyes). Decisions (approve, reject),
the plans awaiting one with their diff, one plan with its decisions, and the `approval.requested`
notification with a link to the plan's page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from gripctl.engine import approvals
from gripctl.engine.approvals import SignedDecision, counts, sign_decision, signer_of
from gripctl.errors import ApprovalError, UsageError
from gripctl.ledger.store import Ledger
from gripctl.ledger.types import ApprovalDecision, ApprovalMethod, ApprovalRecord, PlanRecord
from gripctl.model.types import Approval, Platform
from gripctl.service.workspace import ledger_of, load

Decision = Literal["approve", "reject"]


@dataclass(frozen=True)
class ApproveRequest:
    """A decision on a saved plan. Exactly one proof of identity: `signing_key` (sign here with an SSH
    key), `signed` (a signature made elsewhere), or `method` token/api with `approver` set by a face that
    authenticated the person (the server, from an API token)."""

    root: Path
    environment: str | None  # None: the plan's own environment
    plan_id: str  # the id `gripctl plan` printed, or the digest
    approver: str | None = None  # who claims to decide (must match the signer of a signature)
    comment: str | None = None  # for an approval: why; for a rejection: the reason (required)
    decision: Decision = "approve"
    signing_key: Path | None = None
    signed: SignedDecision | None = None
    method: ApprovalMethod | None = None
    source: str = "cli"  # where from, for the audit log: "cli" or the client's address


@dataclass(frozen=True)
class ApprovalResult:
    plan: str
    digest: str
    approver: str
    environment: str
    decision: str = "approved"
    method: str | None = None
    expires_at: str | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _plan_record(ledger: Ledger, plan_id: str) -> PlanRecord:
    record = ledger.get_plan(plan_id)
    if record is None:
        raise UsageError(
            f"no plan {plan_id!r} in the ledger",
            hint="`gripctl plan -e ENV` records the plan and prints its id",
        )
    return record


def decide(req: ApproveRequest, ledger: Ledger | None = None) -> ApprovalResult:
    """Record an approval or a rejection of exactly that plan, authenticated, in the audit log too."""
    led = ledger if ledger is not None else ledger_of(req.root)
    record = _plan_record(led, req.plan_id)
    platform = load(req.root, req.environment or record.environment)
    env = platform.environment
    verb = "approve" if req.decision == "approve" else "reject"
    signed = req.signed
    if req.signing_key is not None:
        signed = sign_decision(req.signing_key, verb, record.digest, env.name)
    if signed is not None:
        who = signer_of(platform.allowed_signers, verb, record.digest, env.name, signed)
        if req.approver and req.approver != who:
            raise ApprovalError(
                f"the key that signed belongs to {who!r}, not to {req.approver!r}",
                hint="leave --as out (the allowed signers file says who signed), or sign with your own key",
            )
        method = ApprovalMethod.ssh
    elif req.method in approvals.AUTHENTICATED and req.approver:
        who, method = req.approver, req.method
    else:
        raise ApprovalError(
            f"a decision on plan {record.id} must be authenticated; a name alone "
            f"({req.approver or 'nobody'!r}) proves nothing",
            hint=approvals.how_to_approve(record.id, env.name),
        )
    if req.decision == "approve":
        decision = approvals.approve(led, env, record.digest, who, req.comment, method=method)
    else:
        decision = approvals.reject(led, env, record.digest, who, req.comment or "", method=method)
    detail: dict[str, Any] = {"environment": env.name, "method": method.value}
    if req.comment:
        detail["comment" if req.decision == "approve" else "reason"] = req.comment
    if signed is not None:
        detail["signature"] = signed.signature
        detail["signed_at"] = signed.signed_at
    led.record_audit(who, req.source, verb, record.digest, detail)
    return _result(record, env.name, decision)


def _result(record: PlanRecord, environment: str, d: ApprovalRecord) -> ApprovalResult:
    return ApprovalResult(
        record.id,
        record.digest,
        d.approver,
        environment,
        d.decision.value,
        d.method.value if d.method else None,
        d.expires_at.isoformat() if d.expires_at else None,
        d.reason,
    )


def approve(req: ApproveRequest, ledger: Ledger | None = None) -> ApprovalResult:
    return decide(ApproveRequest(**{**req.__dict__, "decision": "approve"}), ledger)


def reject(req: ApproveRequest, ledger: Ledger | None = None) -> ApprovalResult:
    if not (req.comment or "").strip():
        raise UsageError(
            f"rejecting plan {req.plan_id} needs a reason",
            hint="say what is wrong, so that its author can fix it",
        )
    return decide(ApproveRequest(**{**req.__dict__, "decision": "reject"}), ledger)


# -- plans awaiting a decision -------------------------------------------------------------------------


@dataclass
class PlanDetail:
    """A saved plan with its decisions: what the approvals page and `GET /plans/ID` show."""

    record: PlanRecord
    decisions: list[ApprovalRecord]
    approval_required: bool
    four_eyes: bool
    approvers: tuple[str, ...]
    deploy_run: int | None = None  # the run that deployed it, once one did

    @property
    def state(self) -> str:
        """awaiting-approval | approved | rejected | not-required (approval: none, or no changes)."""
        if any(d.decision is ApprovalDecision.rejected for d in self.decisions):
            return "rejected"
        if not self.approval_required or not self.record.has_changes:
            return "not-required"
        return "approved" if self.approved_by() else "awaiting-approval"

    def approved_by(self) -> list[str]:
        from datetime import UTC, datetime

        env = _env_view(self)
        excluded = {self.record.requested_by} if self.record.requested_by else set()
        now = datetime.now(UTC)
        return [
            d.approver
            for d in self.decisions
            if d.decision is ApprovalDecision.approved
            and (d.expires_at is None or d.expires_at > now)
            and counts(env, d, excluded)
        ]

    def may_decide(self, user: str) -> tuple[bool, str]:
        """Whether `user` may approve or reject it now, and why not."""
        if self.state == "rejected":
            return False, "the plan was rejected"
        if self.approvers and user not in self.approvers:
            return False, f"approvers: {', '.join(self.approvers)}"
        if self.four_eyes and user == self.record.requested_by:
            return False, f"{user} requested this plan (four eyes)"
        return True, ""

    def releases(self) -> list[dict[str, Any]]:
        """The plan's changed releases with their object diffs (secrets masked when it was computed)."""
        return [r for r in self.record.body.get("releases", []) if r.get("action") not in ("noop", None)]

    def to_dict(self) -> dict[str, Any]:
        r = self.record
        return {
            "id": r.id,
            "digest": r.digest,
            "environment": r.environment,
            "created_at": r.created_at.isoformat(),
            "requested_by": r.requested_by,
            "git_commit": r.git_commit,
            "has_changes": r.has_changes,
            "state": self.state,
            "approved_by": self.approved_by(),
            "deploy_run": self.deploy_run,
            "decisions": [
                {
                    "decision": d.decision.value,
                    "by": d.approver,
                    "at": d.approved_at.isoformat(),
                    "method": d.method.value if d.method else None,
                    "expires_at": d.expires_at.isoformat() if d.expires_at else None,
                    "comment": d.comment,
                    "reason": d.reason,
                }
                for d in self.decisions
            ],
            "waves": r.body.get("waves", []),
            "releases": self.releases(),
        }


def _env_view(detail: PlanDetail) -> Any:
    from gripctl.model.types import Environment

    return Environment(
        detail.record.environment,
        None,
        approval=Approval.required if detail.approval_required else Approval.none,
        approvers=detail.approvers,
        four_eyes=detail.four_eyes,
    )


def _detail(platform: Platform, ledger: Ledger, record: PlanRecord) -> PlanDetail:
    env = platform.environments.get(record.environment) or platform.environment
    return PlanDetail(
        record,
        ledger.approvals(record.digest),
        env.approval is Approval.required,
        env.four_eyes,
        env.approvers,
        deploy_run(ledger, record.digest),
    )


def deploy_run(ledger: Ledger, plan_digest: str) -> int | None:
    """The newest run that deployed the plan, from the audit log's `deploy` entries (runs have no index
    on their plan digest; the audit log's action index keeps this a short scan)."""
    for entry in ledger.audit_log(action="deploy", limit=1000):
        if entry.target == plan_digest and entry.detail and isinstance(entry.detail.get("run"), int):
            return int(entry.detail["run"])
    return None


def plan_detail(root: Path, plan_id: str, ledger: Ledger | None = None) -> PlanDetail:
    led = ledger if ledger is not None else ledger_of(root)
    record = _plan_record(led, plan_id)
    return _detail(load(root, record.environment), led, record)


@dataclass
class PendingPlans:
    plans: list[PlanDetail] = field(default_factory=list)

    def to_dict(self) -> list[dict[str, Any]]:
        return [p.to_dict() for p in self.plans]


def pending(
    root: Path, environments: Sequence[str] | None = None, ledger: Ledger | None = None, limit: int = 50
) -> PendingPlans:
    """The plans awaiting a decision in the environments that require approval, newest first."""
    from gripctl.model.loader import environment_names

    led = ledger if ledger is not None else ledger_of(root)
    names = [n for n in environment_names(root) if environments is None or n in environments]
    out: list[PlanDetail] = []
    for name in names:
        platform = load(root, name)
        if platform.environment.approval is not Approval.required:
            continue
        out += [_detail(platform, led, r) for r in led.pending_plans(name, limit)]
    out.sort(key=lambda p: p.record.created_at, reverse=True)
    return PendingPlans(out[:limit])


# -- approval.requested --------------------------------------------------------------------------------


def plan_link(platform: Platform, plan_id: str) -> str | None:
    return f"{platform.server_url}/plans/{plan_id}" if platform.server_url else None


def request_approval(platform: Platform, ledger: Ledger, record: PlanRecord, requested_by: str) -> bool:
    """Tell the approvers' channels (`approval.requested`) that a plan awaits them, once per plan;
    recorded in the audit log. True when this call announced it."""
    from gripctl.incidents.setup import notifier_for
    from gripctl.model.settings import read_settings
    from gripctl.notify.events import EventKind, NotifyEvent

    if any(e.target == record.digest for e in ledger.audit_log(action="approval.request", limit=1000)):
        return False
    env = platform.environments.get(record.environment) or platform.environment
    link = plan_link(platform, record.id)
    changed = [r["release_id"] for r in record.body.get("releases", []) if r.get("action") != "noop"]
    text = f"{requested_by} asks to deploy plan {record.id}: {', '.join(changed) or 'no changes'}"
    if env.approvers:
        text += f"\napprovers: {', '.join(env.approvers)}"
    ledger.record_audit(requested_by, "gripctl", "approval.request", record.digest, {"environment": env.name})
    try:
        notifier = notifier_for(platform.root, ledger, read_settings(platform.root))
        notifier.notify(
            NotifyEvent(
                EventKind.approval_requested,
                env.name,
                f"approval requested: plan {record.id}",
                text,
                links={"plan": link} if link else {},
            )
        )
    except Exception as exc:  # a broken channel must not stop the request; the audit log has it
        import sys

        print(f"warning: approval.requested for plan {record.id} not sent: {exc}", file=sys.stderr)
    return True


def require_known_plan(ledger: Ledger, plan_id: str) -> PlanRecord:
    return _plan_record(ledger, plan_id)


__all__ = [
    "ApprovalResult",
    "ApproveRequest",
    "PendingPlans",
    "PlanDetail",
    "approve",
    "decide",
    "pending",
    "plan_detail",
    "reject",
    "request_approval",
]


def decide_remote(
    server: str, token: str, plan_id: str, decision: Decision, comment: str | None
) -> ApprovalResult:
    """Approve or reject through a gripctl server's API with an API token (the server authenticates
    the token, checks the role and four eyes, and records the decision)."""
    from gripctl.adapters.server import call

    if decision == "reject" and not (comment or "").strip():
        raise UsageError(f"rejecting plan {plan_id} needs a reason", hint="say what is wrong with it")
    data = call(server, token, "POST", f"/plans/{plan_id}/{decision}", {"comment": comment})
    return ApprovalResult(
        data["plan"],
        data["digest"],
        data["approver"],
        data["environment"],
        data.get("decision", "approved"),
        data.get("method"),
        data.get("expires_at"),
        data.get("reason"),
    )
