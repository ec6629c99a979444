"""plan.json: a Plan as a JSON document and back. Plans hold masked text and digests only, no secrets."""

from __future__ import annotations

import json
from typing import Any

from gripctl.errors import UsageError
from gripctl.plan.types import Action, ObjectChange, Plan, ReleasePlan, ReleaseStatus

FORMAT = "gripctl/plan-v1"


def plan_to_dict(plan: Plan) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "id": plan.id,
        "digest": plan.digest,
        "environment": plan.environment,
        "created_at": plan.created_at,
        "git_commit": plan.git_commit,
        "has_changes": plan.has_changes,
        "waves": [list(w) for w in plan.waves],
        "releases": [
            {
                "release_id": r.release_id,
                "helm_name": r.helm_name,
                "namespace": r.namespace,
                "action": r.action.value,
                "status": r.status.value,
                "helm_status": r.helm_status,
                "reason": r.reason,
                "live_revision": r.live_revision,
                "deployed_revision": r.deployed_revision,
                "live_chart_version": r.live_chart_version,
                "desired_chart_version": r.desired_chart_version,
                "values_digest": r.values_digest,
                "needs": list(r.needs),
                "changes": [
                    {
                        "kind": c.kind,
                        "namespace": c.namespace,
                        "name": c.name,
                        "change": c.change,
                        "diff": c.diff,
                    }
                    for c in r.changes
                ],
            }
            for r in plan.releases
        ],
        "inputs": dict(sorted(plan.inputs.items())),
    }


def plan_to_json(plan: Plan) -> str:
    return json.dumps(plan_to_dict(plan), indent=2) + "\n"


def plan_from_dict(data: dict[str, Any], *, source: str = "plan") -> Plan:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise UsageError(
            f"{source} is not a gripctl plan (expected format {FORMAT!r})",
            hint="write one with `gripctl plan -e ENV --out plan.json`",
        )
    try:
        return Plan(
            environment=str(data["environment"]),
            releases=tuple(
                ReleasePlan(
                    release_id=r["release_id"],
                    helm_name=r["helm_name"],
                    namespace=r["namespace"],
                    action=Action(r["action"]),
                    status=ReleaseStatus(r["status"]),
                    live_revision=r.get("live_revision"),
                    live_chart_version=r.get("live_chart_version"),
                    desired_chart_version=r["desired_chart_version"],
                    needs=tuple(r.get("needs", ())),
                    changes=tuple(ObjectChange(**c) for c in r.get("changes", ())),
                    reason=r.get("reason", ""),
                    deployed_revision=r.get("deployed_revision"),
                    helm_status=r.get("helm_status"),
                    values_digest=r.get("values_digest"),
                )
                for r in data["releases"]
            ),
            waves=tuple(tuple(w) for w in data["waves"]),
            digest=str(data["digest"]),
            created_at=str(data["created_at"]),
            git_commit=data.get("git_commit"),
            inputs={str(k): str(v) for k, v in data.get("inputs", {}).items()},
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(
            f"{source} is a damaged gripctl plan ({type(exc).__name__}: {exc})",
            hint="re-run `gripctl plan` to write a fresh one",
        ) from None


def plan_from_json(text: str, *, source: str = "plan") -> Plan:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{source} is not JSON: {exc.msg} at line {exc.lineno}",
            hint="re-run `gripctl plan --out FILE` to write a fresh one",
        ) from None
    return plan_from_dict(data, source=source)
