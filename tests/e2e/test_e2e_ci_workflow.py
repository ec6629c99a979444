"""The pull-request workflow `gripctl ci init` writes, run as far as it can run here: its plan step's own
script against the sandbox (both environments planned into one comment body), and its comment step's
script twice, as two pushes to one pull request (a new comment, then the same one updated).

GitHub's API cannot run here: the comment step's `gh` is a stand-in script that answers the comment
list from a file and records each call — the part under test is the workflow's own logic (which comment
it picks, POST or PATCH, the body it sends), not GitHub.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from e2e_helpers import E2EPlatform

from gripctl.adapters.toolchain import find_tool

MARKER = "<!-- gripctl-plan -->"
FAKE_GH = """#!/usr/bin/env python3
# A stand-in for GitHub's CLI (see the test's docstring): `gh api` only.
import json, os, subprocess, sys
args = sys.argv[1:]
assert args[0] == "api", args
calls = os.environ["FAKE_GH_CALLS"]
with open(calls, "a") as fh:
    fh.write(json.dumps(args) + "\\n")
if "--jq" in args:
    listed = open(os.environ["FAKE_GH_COMMENTS"]).read()
    query = args[args.index("--jq") + 1]
    done = subprocess.run(["jq", "-r", query], input=listed, capture_output=True, text=True, check=True)
    sys.stdout.write(done.stdout)
elif "--input" in args:
    with open(os.environ["FAKE_GH_SENT"], "a") as fh:
        fh.write(json.dumps(json.load(open(args[args.index("--input") + 1]))) + "\\n")
    print("{}")
"""


def _steps(repository: Path) -> dict[str, Any]:
    workflow = yaml.safe_load((repository / ".github/workflows/gripctl-pull-request.yml").read_text())
    job = workflow["jobs"]["plan"]
    return {"job": job, **{s.get("id") or s.get("name", ""): s for s in job["steps"]}}


def _run(script: str, env: dict[str, str], workspace: Path) -> subprocess.CompletedProcess[str]:
    """A `run:` step as GitHub runs it: bash --noprofile --norc -e -o pipefail, in the workspace."""
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-e", "-o", "pipefail", "-c", script],
        cwd=workspace,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def _runner_env(
    webgrip: E2EPlatform, tmp_path: Path, job: dict[str, Any], step: dict[str, Any]
) -> dict[str, str]:
    temp = tmp_path / "runner-temp"
    temp.mkdir(exist_ok=True)
    output = tmp_path / "github-output"
    output.touch()
    bins = f"{Path(sys.executable).parent}:{Path(find_tool('helm')).parent}"
    return {
        **{k: v for k, v in os.environ.items() if k != "GRIPCTL_DATABASE_URL"},
        "PATH": f"{tmp_path / 'fake-bin'}:{bins}:{os.environ['PATH']}",
        "RUNNER_TEMP": str(temp),
        "GITHUB_OUTPUT": str(output),
        "GITHUB_REPOSITORY": "acme/platform",
        "SOPS_AGE_KEY": (webgrip.root / "keys" / "test-only.agekey").read_text(),
        "COLUMNS": "200",
        **{k: str(v) for k, v in job["env"].items() if "${{" not in str(v)},
        **{k: str(v) for k, v in (step.get("env") or {}).items() if "${{" not in str(v)},
    }


def test_the_plan_comment_of_a_pull_request(webgrip: E2EPlatform, tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=webgrip.root, check=True)
    init = webgrip.gripctl("ci", "init")
    assert init.returncode == 0, init
    steps = _steps(webgrip.root)
    assert steps["plan"]["env"]["ENVIRONMENTS"] == "staging production"

    # the plan step: both environments, one body
    env = _runner_env(webgrip, tmp_path, steps["job"], steps["plan"])
    done = _run(steps["plan"]["run"], env, webgrip.root)
    assert done.returncode == 0, done.stdout + done.stderr
    temp = Path(env["RUNNER_TEMP"])
    body = (temp / "comment.md").read_text()
    assert body.startswith(MARKER + "\n### gripctl plan · `staging` · ")
    assert "\n### gripctl plan · `production` · " in body and len(body) < 65_536
    assert "**Approval required** (alice, bob): `gripctl approve " in body
    assert body.count("<details>") >= 2 and "install" in body
    assert sorted(p.name for p in (temp / "plans").iterdir()) == ["plan-production.json", "plan-staging.json"]
    assert (tmp_path / "github-output").read_text().strip() == "failed="

    # the comment step, as two pushes: no comment yet -> POST; then the bot's comment -> PATCH it
    fake_bin = tmp_path / "fake-bin"
    fake_bin.mkdir()
    (fake_bin / "gh").write_text(FAKE_GH)
    (fake_bin / "gh").chmod(0o755)
    comments, calls, sent = tmp_path / "comments.json", tmp_path / "calls", tmp_path / "sent"
    comment_step = next(v for k, v in steps.items() if k.startswith("comment on the pull request"))
    comment_env = {
        **_runner_env(webgrip, tmp_path, steps["job"], comment_step),
        "PR": "12",
        "GH_TOKEN": "not-a-token",
        "FAKE_GH_COMMENTS": str(comments),
        "FAKE_GH_CALLS": str(calls),
        "FAKE_GH_SENT": str(sent),
    }
    comments.write_text(json.dumps([{"id": 3, "user": {"login": "alice"}, "body": "looks good"}]))
    first = _run(comment_step["run"], comment_env, webgrip.root)
    assert first.returncode == 0, first.stderr
    comments.write_text(
        json.dumps(
            [
                {"id": 3, "user": {"login": "alice"}, "body": f"{MARKER} quoting the bot"},
                {"id": 7, "user": {"login": "github-actions[bot]"}, "body": body},
                {"id": 9, "user": {"login": "github-actions[bot]"}, "body": "another bot note"},
            ]
        )
    )
    second = _run(comment_step["run"], comment_env, webgrip.root)
    assert second.returncode == 0, second.stderr
    writes = [json.loads(line) for line in calls.read_text().splitlines() if "--input" in line]
    assert [(w[2], w[3]) for w in writes] == [
        ("POST", "repos/acme/platform/issues/12/comments"),
        ("PATCH", "repos/acme/platform/issues/comments/7"),
    ]
    bodies = [json.loads(chunk)["body"] for chunk in sent.read_text().split("\n") if chunk.strip()]
    assert bodies == [body, body]


def test_a_plan_that_fails_is_in_the_comment_and_fails_the_job(webgrip: E2EPlatform, tmp_path: Path) -> None:
    data = webgrip.config()
    data["environments"]["production"]["context"] = "no-such-context"
    webgrip.write_config(data)
    assert webgrip.gripctl("ci", "init").returncode == 0
    steps = _steps(webgrip.root)
    env = _runner_env(webgrip, tmp_path, steps["job"], steps["plan"])
    done = _run(steps["plan"]["run"], env, webgrip.root)
    assert done.returncode == 0, done.stderr  # the comment still goes out
    body = (Path(env["RUNNER_TEMP"]) / "comment.md").read_text()
    assert "### gripctl plan · `staging` · " in body
    assert "### gripctl plan · `production` · failed (exit 1)" in body and "no-such-context" in body
    assert (tmp_path / "github-output").read_text().strip() == "failed= production"
    fail = next(v for k, v in steps.items() if k == "fail when a plan failed")
    failed = _run(fail["run"], {**os.environ, "FAILED": " production"}, webgrip.root)
    assert failed.returncode == 1
    assert "::error title=gripctl plan::the plan failed for: production" in failed.stdout
