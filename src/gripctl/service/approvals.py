"""Approvals of plans: an environment with `approval: required` changes only with one, for that plan."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gripctl.engine import approvals
from gripctl.identity import actor
from gripctl.service.workspace import ledger_of, load


@dataclass(frozen=True)
class ApproveRequest:
    root: Path
    environment: str | None
    plan_id: str  # the id `gripctl plan` printed, or the digest
    approver: str = field(default_factory=actor)
    comment: str | None = None


@dataclass(frozen=True)
class ApprovalResult:
    plan: str
    digest: str
    approver: str
    environment: str

    def to_dict(self) -> dict[str, Any]:
        return {"plan": self.plan, "digest": self.digest, "approver": self.approver}


def approve(req: ApproveRequest) -> ApprovalResult:
    """Record an allowed approver's approval of exactly that plan."""
    platform = load(req.root, req.environment)
    digest = approvals.approve(
        ledger_of(platform), platform.environment, req.plan_id, req.approver, req.comment
    )
    return ApprovalResult(digest[:12], digest, req.approver, platform.environment.name)
