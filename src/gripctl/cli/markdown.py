"""`gripctl plan --format markdown`: a plan as the body of a pull-request comment.

A summary table, one collapsible diff per changed release, the plan id to approve, and a note when
the body had to be cut to stay under `max_chars` (GitHub refuses a comment over 65,536 characters):
what was left out and where the full plan is (the workflow run's artifact). Diffs and reasons come from
the plan, where secrets are already masked; nothing here sees a value.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping

from gripctl.model.types import Approval, Environment
from gripctl.plan.types import Action, ObjectChange, Plan, ReleasePlan
from gripctl.scaffold.workflows import COMMENT_MARKER as MARKER  # how the workflow finds its comment
from gripctl.scaffold.workflows import GITHUB_COMMENT_LIMIT as GITHUB_COMMENT_LIMIT

_ICON = {
    Action.install: "🟢",
    Action.upgrade: "🟡",
    Action.unlock: "🟣",
    Action.blocked: "⛔",
    Action.noop: "⚪",
}
_SIGN = {"added": "+", "changed": "~", "removed": "-"}
_NOTE_RESERVE = 600  # room kept for the truncation note itself


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell: one line, no pipe, no HTML."""
    return html.escape(" ".join(text.split())).replace("|", "\\|")


def _fence(body: str) -> str:
    """A code fence longer than any run of backticks in `body`, so the body cannot close it."""
    longest = max((len(m) for m in re.findall(r"`+", body)), default=0)
    return "`" * max(3, longest + 1)


def _where(change: ObjectChange) -> str:
    return f"{change.namespace}/{change.name}" if change.namespace else change.name


def _counts(plan: Plan) -> dict[Action, int]:
    counts = dict.fromkeys(Action, 0)
    for rp in plan.releases:
        counts[rp.action] += 1
    return counts


def _summary_line(plan: Plan) -> str:
    counts = _counts(plan)
    parts = [
        f"{counts[a]} to {a.value}" for a in (Action.install, Action.upgrade, Action.unlock) if counts[a]
    ]
    if counts[Action.blocked]:
        parts.append(f"{counts[Action.blocked]} blocked")
    parts.append(f"{counts[Action.noop]} unchanged")
    return ", ".join(parts) if plan.has_changes else f"no changes ({counts[Action.noop]} in sync)"


def _chart(rp: ReleasePlan) -> str:
    if rp.live_chart_version and rp.live_chart_version != rp.desired_chart_version:
        return f"{rp.live_chart_version} → {rp.desired_chart_version}"
    return rp.desired_chart_version


def _objects(rp: ReleasePlan) -> str:
    counts: dict[str, int] = {}
    for c in rp.changes:
        counts[c.change] = counts.get(c.change, 0) + 1
    parts = [f"{counts[k]} {k}" for k in ("added", "changed", "removed") if k in counts]
    return ", ".join(parts) if parts else "no object changes"


def _diff_text(rp: ReleasePlan) -> str:
    lines: list[str] = []
    for change in rp.changes:
        lines.append(f"{_SIGN.get(change.change, '?')} {change.kind} {_where(change)} ({change.change})")
        lines += [f"  {line}" for line in change.diff.splitlines()]
    return "\n".join(lines)


def _details(rp: ReleasePlan, diff: str, cut: int = 0) -> str:
    summary = f"<code>{rp.release_id}</code>: {rp.action.value}, {html.escape(_objects(rp))}"
    fence = _fence(diff)
    tail = (
        f"\n\n_{cut} more diff lines left out here; the full plan is in the run's artifact._" if cut else ""
    )
    return f"<details><summary>{summary}</summary>\n\n{fence}diff\n{diff}\n{fence}{tail}\n</details>\n"


def _cut_to_fit(rp: ReleasePlan, budget: int) -> str | None:
    """The release's details block with as many diff lines as fit in `budget`, or None if none do."""
    lines = _diff_text(rp).splitlines()
    low, high, best = 1, len(lines) - 1, None
    while low <= high:  # the longest prefix that fits
        mid = (low + high) // 2
        block = _details(rp, "\n".join(lines[:mid]), cut=len(lines) - mid)
        if len(block) <= budget:
            best, low = block, mid + 1
        else:
            high = mid - 1
    return best


def plan_markdown(
    plan: Plan,
    environment: Environment,
    *,
    context: str | None = None,
    changed_since: str | None = None,
    changed: Mapping[str, str] | None = None,
    max_chars: int = GITHUB_COMMENT_LIMIT,
    details_url: str | None = None,
    marker: bool = True,
) -> str:
    """The comment body (see the module docstring). `details_url`: where the full plan is (the run)."""
    head: list[str] = [MARKER] if marker else []
    head.append(f"### gripctl plan · `{plan.environment}` · {_summary_line(plan)}")
    head.append("")
    facts = [f"plan **`{plan.id}`**"]
    if context:
        facts.append(f"context `{context}`")
    if plan.git_commit:
        facts.append(f"commit `{plan.git_commit[:12]}`")
    head.append(" · ".join(facts))
    if changed_since is not None:
        touched = ", ".join(f"`{rid}`" for rid in (changed or {})) or "nothing"
        head += ["", f"Releases changed since `{_cell(changed_since)}`: {touched} (and what needs them)."]
    if environment.approval is Approval.required and plan.has_changes:
        who = ", ".join(environment.approvers) if environment.approvers else "anyone"
        head += [
            "",
            f"**Approval required** ({who}): `gripctl approve {plan.id} -e {plan.environment}`",
        ]
    if environment.promote_from and plan.has_changes:
        head += [
            "",
            f"Promotes from `{environment.promote_from}`: the deploy refuses releases that have not run "
            f"there with this chart version and these values.",
        ]
    changed_releases = [rp for rp in plan.releases if rp.changed]
    if changed_releases:
        head += ["", "| | release | action | chart | why |", "|---|---|---|---|---|"]
        for rp in changed_releases:
            head.append(
                f"| {_ICON[rp.action]} | `{rp.release_id}` | {rp.action.value} | {_cell(_chart(rp))} "
                f"| {_cell(rp.reason)} |"
            )
    unchanged = [rp.release_id for rp in plan.releases if not rp.changed]
    if unchanged and changed_releases:
        head += ["", f"<sub>unchanged: {', '.join(unchanged)}</sub>"]
    text = "\n".join(head) + "\n"

    left_out: list[str] = []
    blocks: list[str] = []
    budget = max_chars - len(text) - _NOTE_RESERVE
    for rp in changed_releases:
        if not rp.changes:
            continue
        block = _details(rp, _diff_text(rp))
        if not left_out and len(block) + 1 <= budget:
            blocks.append(block)
            budget -= len(block) + 1
            continue
        if not left_out and (partial := _cut_to_fit(rp, budget - 1)) is not None:
            blocks.append(partial)
            budget -= len(partial) + 1
        left_out.append(rp.release_id)
    if blocks:
        text += "\n" + "\n".join(blocks)
    if left_out:
        where = f"[the workflow run]({details_url})" if details_url else "the workflow run's artifacts"
        shown = ", ".join(f"`{rid}`" for rid in left_out[:20]) + (" and more" if len(left_out) > 20 else "")
        text += (
            f"\n> [!NOTE]\n> Cut to stay under GitHub's comment size limit: the diffs of {shown} are left "
            f"out or shortened. The full plan (`plan.json`) is in {where}.\n"
        )
    if len(text) > max_chars:  # only a header longer than the limit itself (thousands of releases)
        note = f"\n\n… cut at {max_chars} characters; the full plan is in the workflow run.\n"
        text = text[: max(0, max_chars - len(note))] + note
    return text
