"""`gripctl plan --format markdown`: the pull-request comment body, from plans computed by the real
compute_plan on hand-made snapshots (secrets included) — table, collapsible diffs, approval, the size
limit and its note."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from plan_helpers import configmap, deployment, desired, make_platform, make_snapshot, observed, secret

from gripctl.cli.markdown import GITHUB_COMMENT_LIMIT, MARKER, plan_markdown
from gripctl.model.types import Approval, Environment
from gripctl.plan import compute_plan
from gripctl.plan.types import Plan, ReleaseStatus

PROD = Environment(
    "production", "prod-ctx", approval=Approval.required, approvers=("alice", "bob"), promote_from="staging"
)
PASSWORD = "hunter2-not-for-prs"


def _plan(tmp_path: Path, n_config_lines: int = 3) -> Plan:
    ids = [("010-web", ()), ("020-api", ("010-web",)), ("030-db", ()), ("040-jobs", ())]
    platform = make_platform(tmp_path, *ids)
    data = {f"k{i}": f"value {i} | with `ticks` and <b>html</b>" for i in range(n_config_lines)}
    obs = [
        observed("010-web", ReleaseStatus.absent),
        observed(
            "020-api",
            manifest=deployment("api", replicas=1) + secret("api", {"password": "old-password-1"}),
            values={"replicas": 1},
            chart_version="1.0.0",
        ),
        observed("030-db", manifest=deployment("db"), values={}),
        observed("040-jobs", manifest=configmap("jobs", {"a": "1"}), values={}),
    ]
    des = [
        desired("010-web", manifest=deployment("web") + configmap("web", data)),
        desired(
            "020-api",
            manifest=deployment("api", replicas=3) + secret("api", {"password": PASSWORD}),
            values={"replicas": 3},
            chart_version="1.1.0",
            secrets_yaml=f"password: {PASSWORD}\n".encode(),
        ),
        desired("030-db", manifest=deployment("db"), values={}),
        desired("040-jobs", manifest=configmap("jobs", data), values={}),
    ]
    return compute_plan(platform, make_snapshot(obs, des), [rid for rid, _ in ids])


def test_the_comment_has_the_summary_table_a_diff_per_release_and_the_plan_id_to_approve(
    tmp_path: Path,
) -> None:
    plan = _plan(tmp_path)
    text = plan_markdown(plan, PROD, context="prod-ctx")
    lines = text.splitlines()
    assert lines[0] == MARKER
    assert lines[1] == "### gripctl plan · `production` · 1 to install, 2 to upgrade, 1 unchanged"
    assert f"plan **`{plan.id}`** · context `prod-ctx` · commit `abc123`" in text
    assert f"**Approval required** (alice, bob): `gripctl approve {plan.id} -e production`" in text
    assert "Promotes from `staging`" in text
    assert "| 🟢 | `010-web` | install | 0.1.0 | not installed |" in lines
    assert "| 🟡 | `020-api` | upgrade | 1.0.0 → 1.1.0 |" in text
    assert "<sub>unchanged: 030-db</sub>" in text
    details = re.findall(r"<details><summary><code>([^<]+)</code>", text)
    assert details == ["010-web", "020-api", "040-jobs"]  # one per changed release, in plan order
    assert text.count("</details>") == 3
    assert "```diff\n+ ConfigMap web/web (added)" in text or "````diff\n+ ConfigMap web/web (added)" in text
    assert "Cut to stay under" not in text


def test_secrets_never_reach_the_comment(tmp_path: Path) -> None:
    text = plan_markdown(_plan(tmp_path), PROD)
    assert PASSWORD not in text and "old-password-1" not in text
    assert "<secret: new value>" in text  # the changed key is still named


def test_backticks_in_a_diff_cannot_close_its_fence_and_cells_cannot_break_the_table(tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    rp = plan.get("040-jobs")
    nasty = replace(
        plan,
        releases=tuple(
            replace(
                r,
                reason="values changed: a|b <script>",
                changes=(replace(r.changes[0], diff="+  x: ````\n"),),
            )
            if r.release_id == rp.release_id
            else r
            for r in plan.releases
        ),
    )
    text = plan_markdown(nasty, PROD)
    assert "`````diff\n~ ConfigMap jobs/jobs (changed)\n  +  x: ````\n`````" in text
    assert "values changed: a\\|b &lt;script&gt;" in text and "<script>" not in text


def test_a_plan_over_the_limit_is_cut_with_a_note_and_a_link_to_the_full_plan(tmp_path: Path) -> None:
    plan = _plan(tmp_path, n_config_lines=3000)  # two ConfigMaps with thousands of changed lines
    whole = plan_markdown(plan, PROD, max_chars=10**7)
    assert len(whole) > GITHUB_COMMENT_LIMIT and "Cut to stay under" not in whole
    url = "https://github.com/acme/platform/actions/runs/42"
    text = plan_markdown(plan, PROD, details_url=url)
    assert len(text) <= GITHUB_COMMENT_LIMIT
    assert f"The full plan (`plan.json`) is in [the workflow run]({url})." in text
    assert "the diffs of `040-jobs` are left out or shortened" in text  # the first two fit whole
    assert re.search(r"_\d+ more diff lines left out here", text)  # 040-jobs: as much as fits
    assert "| 🟡 | `020-api` |" in text  # the table is always whole
    small = plan_markdown(plan, PROD, max_chars=5000)
    assert len(small) <= 5000 and "Cut to stay under" in small and "the workflow run's artifacts" in small
    assert small.count("<details>") == small.count("</details>")  # never a block cut in half


def test_no_changes_and_nothing_changed_since(tmp_path: Path) -> None:
    platform = make_platform(tmp_path, ("010-web", ()))
    manifest = deployment("web")
    plan = compute_plan(
        platform,
        make_snapshot([observed("010-web", manifest=manifest)], [desired("010-web", manifest=manifest)]),
        ["010-web"],
    )
    text = plan_markdown(plan, PROD, changed_since="origin/main", changed={})
    assert "### gripctl plan · `production` · no changes (1 in sync)" in text
    assert "Releases changed since `origin/main`: nothing" in text
    assert "<details>" not in text and "Approval required" not in text and "|---|" not in text
