"""Plan and diff: observe the live cluster, compare with the repository, decide per release (read-only).

`plan` records the plan in the ledger when one is configured or already exists (never creating
one), so that `gripctl approve PLAN_ID` finds it; `diff` is the same comparison without recording.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gripctl.errors import UsageError
from gripctl.ledger.store import Ledger, configured_url
from gripctl.ledger.types import ActionOutcome
from gripctl.model.selection import Selection
from gripctl.model.types import Approval, Platform
from gripctl.observe.snapshot import snapshot, target_for
from gripctl.observe.types import Snapshot
from gripctl.plan.compute import compute_plan
from gripctl.plan.serialize import plan_to_dict, plan_to_json
from gripctl.plan.types import Plan
from gripctl.service.workspace import changes_since, load, selected


@dataclass(frozen=True)
class PlanRequest:
    root: Path
    environment: str | None = None
    selection: Selection = field(default_factory=Selection)
    out: Path | None = None  # also write the plan as JSON here (for `gripctl apply PLAN`)
    record: bool = True  # save it to the ledger, when there is one
    requested_by: str | None = None


@dataclass
class PlanResult:
    platform: Platform
    plan: Plan
    selected: list[str]
    out: str | None = None
    recorded: bool = False
    changed_since: str | None = None  # the --changed-since ref, and why each release was selected
    changed: dict[str, str] | None = None

    def to_dict(self) -> dict[str, Any]:
        doc = {**plan_to_dict(self.plan), "out": self.out, "ledger": self.recorded}
        if self.changed_since is not None:
            doc["changed_since"] = {"ref": self.changed_since, "releases": self.changed or {}}
        return doc


def existing_ledger(platform: Platform, *, create: bool) -> Ledger | None:
    """The platform's ledger when one is configured or already exists. Planning never creates one
    unless it is configured (`create`: `plan` records into it); `diff` only reads one that exists."""
    from gripctl.ledger import DATABASE_URL_ENV, open_ledger
    from gripctl.ledger.db import resolve_url

    configured = os.environ.get(DATABASE_URL_ENV) or configured_url(platform.root, create=False)
    url = resolve_url(None, platform.root, create=False)
    sqlite_file = Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None
    exists = sqlite_file.is_file() if sqlite_file is not None else bool(configured)
    if exists:
        return open_ledger(url)
    return open_ledger(root=platform.root) if create and configured else None


def interrupted_releases(ledger: Ledger | None, environment: str) -> dict[str, int]:
    """Release id -> the dead gripctl run that was acting on it: what the next deploy recovers first."""
    if ledger is None:
        return {}
    out: dict[str, int] = {}
    for dead in ledger.interrupted_runs(environment):
        record = ledger.run(dead.id)
        for action in record.actions if record else ():
            if action.outcome in (ActionOutcome.running, ActionOutcome.pending):
                out.setdefault(action.release_id, dead.id)
    return out


def decide_plan(
    platform: Platform,
    snap: Snapshot,
    ids: list[str],
    ledger: Ledger | None,
    reapply: Mapping[str, str] | None = None,
) -> Plan:
    """The plan from an observation, with the ledger's knowledge of interrupted runs."""
    interrupted = interrupted_releases(ledger, platform.environment.name)
    return compute_plan(platform, snap, ids, interrupted=interrupted, reapply=reapply)


async def plan(req: PlanRequest) -> PlanResult:
    platform = load(req.root, req.environment)
    # Deploy refuses a broken `policies:` section (its checks gate the run): so does the plan of it,
    # rather than show changes a deploy would not make.
    from gripctl.validate.policy import load_policies

    load_policies(platform)
    ref = req.selection.changed_since
    changed = changes_since([platform], ref) if ref else None
    ids = selected(platform, req.selection, changed=changed)
    snap = await snapshot(platform, ids, target_for(platform), concurrency=platform.environment.concurrency)
    ledger = existing_ledger(platform, create=req.record)
    result = decide_plan(platform, snap, ids, ledger)
    out = _write(result, req.out)
    recorded = False
    if req.record and ledger is not None and ids:
        record = ledger.save_plan(
            result.digest,
            result.environment,
            plan_to_dict(result),
            result.git_commit,
            requested_by=req.requested_by,
        )
        recorded = True
        if platform.environment.approval is Approval.required and result.has_changes:
            from gripctl.service.approvals import request_approval

            if not ledger.valid_approvals(result.digest):
                request_approval(platform, ledger, record, record.requested_by or "unknown")
    return PlanResult(platform, result, ids, out, recorded, ref, changed)


async def diff(req: PlanRequest) -> PlanResult:
    """`gripctl diff`: the plan's object diff only, recorded nowhere."""
    return await plan(PlanRequest(req.root, req.environment, req.selection, out=None, record=False))


def _write(result: Plan, out: Path | None) -> str | None:
    if out is None:
        return None
    try:
        out.write_text(plan_to_json(result))
    except OSError as exc:
        raise UsageError(
            f"cannot write the plan to {out}: {exc.strerror}", hint="choose a writable --out path"
        ) from None
    return str(out)
