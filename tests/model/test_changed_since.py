"""`--changed-since REF` on a real git history: a copy of examples/webgrip committed into a repository,
changed commit by commit (and in the working tree), and the releases each change selects.

The example's graph: 005 -> 007 -> 010 -> 020 -> 030 -> 040 -> 045, 007 -> 060, and 030 + 060 -> 950;
010, 060 and 950 each need their secrets release (NNN-name-secrets).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gripctl.errors import UsageError
from gripctl.model import load_platform
from gripctl.model.selection import Selection
from gripctl.service.workspace import changes_since, selected

REPO = Path(__file__).resolve().parents[2]
WEBGRIP = REPO / "examples" / "webgrip"
EVERY = [
    "005-tainters",
    "007-cluster-monitoring",
    "010-cert-manager-secrets",
    "010-cert-manager",
    "020-cluster-issuers",
    "030-ingress-controllers",
    "040-gha-runners-controller",
    "045-gha-runners",
    "060-grafana-stack-secrets",
    "060-grafana-stack",
    "950-example-services-secrets",
    "950-example-services",
]


def git(root: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, env=env, check=True)
    return done.stdout.strip()


def commit(root: Path, message: str) -> str:
    git(root, "add", "-A")
    git(root, "commit", "-qm", message)
    return git(root, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """The example as the repository's `platform/` folder (a platform need not be the repository root)."""
    top = tmp_path / "repo"
    shutil.copytree(WEBGRIP, top / "platform", ignore=shutil.ignore_patterns(".gripctl", "site"))
    (top / "README.md").write_text("a repository with a platform in a folder\n")
    git(top, "init", "-q", "-b", "main")
    commit(top, "the platform")
    git(top, "tag", "v1")
    return top / "platform"


def chosen(root: Path, ref: str, environment: str = "staging") -> list[str]:
    platform = load_platform(root, environment)
    return selected(platform, Selection(changed_since=ref))


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def test_a_chart_change_selects_the_release_and_everything_that_needs_it(repo: Path) -> None:
    assert chosen(repo, "v1") == []  # nothing differs from v1: nothing selected, and no error
    template = next((repo / "ops/helm/030-ingress-controllers/templates").glob("*.yaml"))
    template.write_text(template.read_text() + "\n# a comment is a change to the chart\n")
    commit(repo.parent, "030: template")
    expected = [
        "030-ingress-controllers",
        "040-gha-runners-controller",
        "045-gha-runners",
        "950-example-services-secrets",
        "950-example-services",
    ]
    assert chosen(repo, "v1") == chosen(repo, "HEAD~1") == chosen(repo, "main~1") == expected
    assert chosen(repo, "HEAD") == []
    why = changes_since([load_platform(repo, "staging")], "v1")
    changed = f"ops/helm/030-ingress-controllers/templates/{template.name}"
    assert why == {"030-ingress-controllers": f"chart changed: {changed}"}


def test_values_files_count_per_environment(repo: Path) -> None:
    edit(repo / "envs/production/950-example-services.yaml", "replicaCount: 3", "replicaCount: 4")
    commit(repo.parent, "more production replicas")
    assert chosen(repo, "v1", "staging") == []  # staging's values did not change
    assert chosen(repo, "v1", "production") == ["950-example-services-secrets", "950-example-services"]
    reasons = changes_since([load_platform(repo, "production")], "v1")
    assert reasons == {"950-example-services": "values changed: envs/production/950-example-services.yaml"}
    # the environment-wide file touches every release of that environment only
    edit(repo / "envs/staging/values.yaml", "logLevel: debug", "logLevel: info")
    assert chosen(repo, "HEAD", "staging") == EVERY  # uncommitted, in the working tree
    assert chosen(repo, "HEAD", "production") == []


def test_secrets_select_the_secrets_release_and_what_needs_it(repo: Path) -> None:
    secrets = repo / "ops/secrets/060-grafana-stack-secrets/values.sops.yaml"
    secrets.write_text(secrets.read_text() + "\n")  # as `sops` re-encrypting would change it
    commit(repo.parent, "rotate grafana secrets")
    assert chosen(repo, "v1") == [
        "060-grafana-stack-secrets",
        "060-grafana-stack",
        "950-example-services-secrets",
        "950-example-services",
    ]
    reason = changes_since([load_platform(repo, "staging")], "v1")["060-grafana-stack-secrets"]
    assert reason == "secrets changed: ops/secrets/060-grafana-stack-secrets/values.sops.yaml"


def test_gripctl_yaml_changes_by_section(repo: Path) -> None:
    config = repo / "gripctl.yaml"
    edit(
        config,
        "    namespace: cert-manager\n    labels: {tier: core}\n    timeout: 120s",
        "    namespace: cert-manager\n    labels: {tier: core}\n    timeout: 90s",
    )
    first = commit(repo.parent, "020: shorter timeout")
    assert chosen(repo, "v1")[:1] == ["020-cluster-issuers"]
    assert "005-tainters" not in chosen(repo, "v1") and "060-grafana-stack" not in chosen(repo, "v1")
    assert changes_since([load_platform(repo, "staging")], "v1") == {
        "020-cluster-issuers": "its gripctl.yaml entry changed"
    }
    # a comment or a notification setting changes no release
    config.write_text(config.read_text() + "\n# a comment\n")
    assert chosen(repo, first) == []
    # the environments section can change anything
    edit(config, "    monitor: 0s", "    monitor: 5s")
    assert chosen(repo, first) == EVERY
    assert set(changes_since([load_platform(repo, "staging")], first).values()) == {
        "gripctl.yaml `environments` changed"
    }


def test_an_added_and_a_deleted_per_release_values_file(repo: Path) -> None:
    added = repo / "envs/staging/045-gha-runners.yaml"
    added.write_text("scaleSets: []\n")  # untracked, not yet committed
    assert chosen(repo, "v1") == ["045-gha-runners"]
    commit(repo.parent, "staging runners")
    tip = git(repo.parent, "rev-parse", "HEAD")
    added.unlink()  # deleted again: no longer a values file of the release, still a change to it
    assert chosen(repo, tip) == ["045-gha-runners"]


def test_a_local_library_chart_touches_the_charts_that_depend_on_it(repo: Path) -> None:
    library = repo / "ops/helm/lib"
    (library / "templates").mkdir(parents=True)
    (library / "Chart.yaml").write_text("apiVersion: v2\nname: lib\nversion: 0.1.0\ntype: library\n")
    chart = repo / "ops/helm/040-gha-runners-controller/Chart.yaml"
    meta = yaml.safe_load(chart.read_text())
    meta["dependencies"] = [{"name": "lib", "version": "0.1.0", "repository": "file://../lib"}]
    chart.write_text(yaml.safe_dump(meta))
    base = commit(repo.parent, "a library chart")
    (library / "templates" / "_helpers.tpl").write_text('{{- define "lib.name" -}}x{{- end -}}\n')
    assert chosen(repo, base) == ["040-gha-runners-controller", "045-gha-runners"]


def test_a_renamed_file_counts_on_both_sides(repo: Path) -> None:
    git(
        repo.parent,
        "mv",
        "platform/envs/production/060-grafana-stack.yaml",
        "platform/envs/production/950-example-services-2.yaml",
    )
    assert chosen(repo, "v1", "production") == [
        "060-grafana-stack-secrets",
        "060-grafana-stack",
        "950-example-services-secrets",
        "950-example-services",
    ]


def test_the_other_selection_options_narrow_what_changed(repo: Path) -> None:
    edit(repo / "envs/staging/values.yaml", "logLevel: debug", "logLevel: info")
    platform = load_platform(repo, "staging")
    only = selected(platform, Selection(only=("060-grafana-stack",), changed_since="v1"))
    assert only == [
        "060-grafana-stack-secrets",
        "060-grafana-stack",
        "950-example-services-secrets",
        "950-example-services",
    ]
    tiers = selected(platform, Selection(selectors=("tier=ci",), changed_since="v1"))
    assert tiers == ["040-gha-runners-controller", "045-gha-runners"]


def test_an_unknown_ref_and_a_folder_outside_git_are_usage_errors(repo: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError) as err:
        chosen(repo, "no-such-branch")
    assert err.value.message == f"--changed-since no-such-branch: git knows no such commit in {repo}"
    assert err.value.hint is not None and "fetch-depth: 0" in err.value.hint
    with pytest.raises(UsageError):
        chosen(repo, "--output=/tmp/x")  # never taken for a git option
    loose = tmp_path / "loose"
    shutil.copytree(WEBGRIP, loose, ignore=shutil.ignore_patterns(".gripctl", "site"))
    with pytest.raises(UsageError) as err:
        chosen(loose, "HEAD")
    assert err.value.message == f"--changed-since needs a git repository, and {loose} is not in one"


def _cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "GRIPCTL_DATABASE_URL"}
    env["SOPS_AGE_KEY_FILE"] = str(root / "keys" / "test-only.agekey")
    return subprocess.run(
        [sys.executable, "-m", "gripctl.cli.app", "-C", str(root), *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def test_deploy_with_nothing_changed_starts_no_run_and_exits_0(repo: Path) -> None:
    done = _cli(repo, "deploy", "-e", "staging", "--changed-since", "v1")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "nothing changed since v1: no release to deploy"
    assert not (repo / ".gripctl").exists()  # no ledger opened, no cluster asked
    as_json = _cli(repo, "deploy", "-e", "staging", "--changed-since", "v1", "-o", "json")
    assert json.loads(as_json.stdout)["outcome"] == "nothing-to-do"


def test_validate_checks_what_changed_in_any_environment(repo: Path) -> None:
    edit(repo / "envs/production/950-example-services.yaml", "replicaCount: 3", "replicaCount: 4")
    done = _cli(repo, "validate", "--changed-since", "v1", "--format", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert sorted(report["releases"]) == ["950-example-services", "950-example-services-secrets"]
    assert report["environments"] == ["staging", "production"]
