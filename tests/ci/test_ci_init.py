"""`gripctl ci init`: the workflows it writes, each checked by actionlint (the pinned toolchain's), and its
refusals — each with its message and proof that nothing was written."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gripctl import __version__
from gripctl.adapters.toolchain import find_tool

REPO = Path(__file__).resolve().parents[2]
WEBGRIP = REPO / "examples" / "webgrip"
WORKFLOWS = (
    ".github/workflows/gripctl-pull-request.yml",
    ".github/workflows/gripctl-deploy.yml",
    ".github/workflows/gripctl-deploy-manual.yml",
)


def git(root: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t"}
    env |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    return subprocess.run(
        ["git", *args], cwd=root, env=env, capture_output=True, text=True, check=True
    ).stdout


def gripctl(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gripctl.cli.app", "-C", str(root), *args],
        capture_output=True,
        text=True,
        check=False,
    )


def actionlint(repository: Path) -> subprocess.CompletedProcess[str]:
    """actionlint over every workflow of the repository (and the local actions they use)."""
    files = sorted(str(p) for p in (repository / ".github" / "workflows").glob("*.yml"))
    assert files, f"no workflows in {repository}"
    return subprocess.run(
        [find_tool("actionlint"), "-no-color", *files],
        cwd=repository,
        capture_output=True,
        text=True,
        check=False,
    )


def files_under(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    """A git repository whose root is a copy of the example platform."""
    root = tmp_path / "platform"
    shutil.copytree(WEBGRIP, root, ignore=shutil.ignore_patterns(".gripctl", "site"))
    git(root, "init", "-q", "-b", "main")
    return root


def workflow(repository: Path, name: str) -> dict:  # type: ignore[type-arg]
    data = yaml.safe_load((repository / ".github/workflows" / name).read_text())
    assert isinstance(data, dict)
    return data


def test_the_example_gets_three_workflows_that_pass_actionlint(repository: Path) -> None:
    done = gripctl(repository, "-o", "json", "ci", "init")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["written"] == list(WORKFLOWS) and result["overwritten"] == []
    assert (result["deploy_auto"], result["deploy_manual"], result["platform_dir"]) == (
        ["staging"],
        ["production"],
        ".",
    )
    assert result["action"] == f"webgrip/gripctl@v{__version__}"
    lint = actionlint(repository)
    assert lint.returncode == 0, lint.stdout + lint.stderr

    pr = workflow(repository, "gripctl-pull-request.yml")
    assert set(pr[True]) == {"pull_request"}  # PyYAML reads the key `on` as True
    validate, plan = pr["jobs"]["validate"], pr["jobs"]["plan"]
    assert validate["permissions"]["security-events"] == "write"
    steps = {s.get("name") or s["uses"]: s for s in validate["steps"]}
    assert "--format github --sarif" in steps["gripctl validate"]["run"]
    assert steps["upload to code scanning"]["uses"].startswith("github/codeql-action/upload-sarif@")
    plan_run = next(s["run"] for s in plan["steps"] if s.get("id") == "plan")
    assert "ENVIRONMENTS" in plan_run and "--format markdown --max-chars 31768" in plan_run
    assert (
        next(s for s in plan["steps"] if s.get("id") == "plan")["env"]["ENVIRONMENTS"] == "staging production"
    )
    comment = next(s for s in plan["steps"] if "comment on the pull request" in s.get("name", ""))
    assert "--method PATCH" in comment["run"] and "<!-- gripctl-plan -->" in comment["run"]
    assert plan["permissions"]["pull-requests"] == "write"

    push = workflow(repository, "gripctl-deploy.yml")
    assert push[True] == {"push": {"branches": ["main"]}}
    [(job_id, job)] = push["jobs"].items()
    assert (job_id, job["environment"]) == ("deploy-staging", "staging")
    assert job["concurrency"] == {"group": "gripctl-deploy-staging", "cancel-in-progress": False}
    assert job["steps"][-1]["run"] == 'gripctl -C "$PLATFORM" deploy -e staging --auto'

    manual = workflow(repository, "gripctl-deploy-manual.yml")
    inputs = manual[True]["workflow_dispatch"]["inputs"]
    assert inputs["environment"]["options"] == ["production"]
    deploy = manual["jobs"]["deploy"]
    assert deploy["environment"] == "${{ inputs.environment }}" and deploy["needs"] == "plan"
    assert deploy["concurrency"]["group"] == "gripctl-deploy-${{ inputs.environment }}"
    assert "--auto" not in deploy["steps"][-1]["run"] and "--force-promotion" in deploy["steps"][-1]["run"]


def test_a_platform_in_a_folder_of_its_repository(tmp_path: Path) -> None:
    top = tmp_path / "repo"
    shutil.copytree(WEBGRIP, top / "deploy" / "platform", ignore=shutil.ignore_patterns(".gripctl", "site"))
    git(top, "init", "-q", "-b", "trunk")
    done = gripctl(top / "deploy" / "platform", "-o", "json", "ci", "init", "--branch", "trunk")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["platform_dir"] == "deploy/platform"
    assert not (top / "deploy" / "platform" / ".github").exists()  # the repository's root, not the folder's
    lint = actionlint(top)
    assert lint.returncode == 0, lint.stdout
    push = workflow(top, "gripctl-deploy.yml")
    assert push[True]["push"]["branches"] == ["trunk"]
    assert push["jobs"]["deploy-staging"]["env"]["PLATFORM"] == "deploy/platform"


def test_promotion_chains_and_policies_shape_the_jobs(repository: Path) -> None:
    config = yaml.safe_load((repository / "gripctl.yaml").read_text())
    staging = config["environments"]["staging"]
    config["environments"] = {
        "dev": {**staging, "values": []},
        "staging": {**staging, "promote_from": "dev"},
        "qa": {**staging, "deploy": "manual"},
        "production": config["environments"]["production"],
    }
    (repository / "gripctl.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    assert gripctl(repository, "ci", "init").returncode == 0
    assert actionlint(repository).returncode == 0
    push = workflow(repository, "gripctl-deploy.yml")["jobs"]
    assert list(push) == ["deploy-dev", "deploy-staging"]
    assert push["deploy-staging"]["needs"] == "deploy-dev" and "needs" not in push["deploy-dev"]
    assert {push[j]["concurrency"]["group"] for j in push} == {"gripctl-deploy-dev", "gripctl-deploy-staging"}
    options = workflow(repository, "gripctl-deploy-manual.yml")[True]["workflow_dispatch"]["inputs"]
    assert options["environment"]["options"] == ["qa", "production"]


def test_only_auto_or_only_manual_environments_write_only_their_workflow(repository: Path) -> None:
    config = yaml.safe_load((repository / "gripctl.yaml").read_text())
    del config["environments"]["production"]
    (repository / "gripctl.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    done = gripctl(repository, "-o", "json", "ci", "init")
    assert json.loads(done.stdout)["written"] == [WORKFLOWS[0], WORKFLOWS[1]]
    assert not (repository / WORKFLOWS[2]).exists()
    assert actionlint(repository).returncode == 0


def test_the_repositorys_own_action_is_checked_too(repository: Path) -> None:
    """With `--action ./` the workflows use the action.yml at the repository root, and actionlint checks
    the inputs they pass against it: here, gripctl's own action.yml."""
    shutil.copy(REPO / "action.yml", repository / "action.yml")
    assert gripctl(repository, "ci", "init", "--action", "./").returncode == 0
    lint = actionlint(repository)
    assert lint.returncode == 0, lint.stdout
    assert "uses: ./\n" in (repository / WORKFLOWS[0]).read_text()


def test_existing_workflows_are_never_overwritten_without_force(repository: Path) -> None:
    mine = repository / WORKFLOWS[1]
    mine.parent.mkdir(parents=True)
    mine.write_text("name: my own deploy\n")
    before = files_under(repository)
    done = gripctl(repository, "ci", "init")
    assert done.returncode == 64
    assert f"these workflows already exist, nothing was written: {WORKFLOWS[1]}" in done.stderr
    assert "gripctl ci init --force" in done.stderr
    assert files_under(repository) == before  # not even the two missing ones
    forced = gripctl(repository, "-o", "json", "ci", "init", "--force")
    assert forced.returncode == 0
    assert json.loads(forced.stdout)["overwritten"] == [WORKFLOWS[1]]
    assert mine.read_text().startswith("# gripctl deploy: on a push to main, deploy staging")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--action", "gripctl"), "--action 'gripctl' is not an action reference"),
        (("--action", "webgrip/gripctl"), "--action 'webgrip/gripctl' is not an action reference"),
        (("--action", "a/b@v1; rm -rf /"), "is not an action reference"),
        (("--branch", "main branch"), "--branch 'main branch' is not a branch name"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(
    repository: Path, args: tuple[str, ...], message: str
) -> None:
    before = files_under(repository)
    done = gripctl(repository, "ci", "init", *args)
    assert done.returncode == 64 and message in done.stderr
    assert files_under(repository) == before


def test_a_platform_without_environments_is_refused(repository: Path) -> None:
    config = yaml.safe_load((repository / "gripctl.yaml").read_text())
    del config["environments"]
    (repository / "gripctl.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    before = files_under(repository)
    done = gripctl(repository, "ci", "init")
    assert done.returncode == 64
    assert "gripctl.yaml declares no environments: the workflows plan and deploy each one" in done.stderr
    assert files_under(repository) == before


def test_outside_git_the_workflows_go_next_to_gripctl_yaml(tmp_path: Path) -> None:
    root = tmp_path / "loose"
    shutil.copytree(WEBGRIP, root, ignore=shutil.ignore_patterns(".gripctl", "site"))
    done = gripctl(root, "ci", "init")
    assert done.returncode == 0, done.stderr
    assert "is not in a git repository" in done.stdout
    assert all((root / path).is_file() for path in WORKFLOWS)
