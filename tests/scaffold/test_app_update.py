"""gripctl app update: a newer template version comes in with `copier update`, local changes stay,
conflicts are left inline and reported; a dirty tree, an app without a template and a version the cache
lacks are refused with nothing written.

Templates are real git repositories with version tags (a team's own, and the default one materialized
in a private cache); the platform copy is a real git work tree.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from scaffold_helpers import commit_all, copy_webgrip, git, gripctl, retag, snapshot, team_template

from gripctl.errors import TemplateError, UsageError
from gripctl.scaffold import template as template_mod
from gripctl.scaffold.apps import create_app, update_app

PDB = """apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ .Release.Name }}
  namespace: {{ .Release.Namespace }}
spec:
  minAvailable: {{ .Values.podDisruptionBudget.minAvailable }}
  selector:
    matchLabels:
      {{- include "app.selector" . | nindent 6 }}
"""


@pytest.fixture
def platform_repo(tmp_path: Path) -> Path:
    root = copy_webgrip(tmp_path)
    commit_all(root, "platform")
    return root


def _add_pdb(template_root: Path) -> None:
    chart = template_root / "[[ charts_dir ]]" / "[[ release_id ]]"
    (chart / "templates" / "pdb.yaml").write_text(PDB)
    values = chart / "values.yaml.jinja"
    values.write_text(values.read_text() + "\npodDisruptionBudget:\n  minAvailable: 1\n")


def test_update_brings_a_template_change_in_and_keeps_local_changes(
    platform_repo: Path, tmp_path: Path
) -> None:
    repo = team_template(tmp_path)
    create_app(platform_repo, "billing", number=955, needs=("030-ingress-controllers",), template=str(repo))
    commit_all(platform_repo, "new app billing")
    values = platform_repo / "ops/helm/955-billing/values.yaml"
    values.write_text(values.read_text().replace("replicaCount: null", "replicaCount: 2"))  # a local change
    commit_all(platform_repo, "more memory")

    _add_pdb(repo)
    retag(repo, "v1.1.0", "a PodDisruptionBudget")
    done = gripctl(platform_repo, "-o", "json", "app", "update", "billing")
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert (result["from_version"], result["to_version"]) == ("v1.0.0", "v1.1.0")
    assert result["conflicts"] == []
    assert any(line.endswith("ops/helm/955-billing/templates/pdb.yaml") for line in result["changed"])
    assert (platform_repo / "ops/helm/955-billing/templates/pdb.yaml").read_text() == PDB
    merged = yaml.safe_load(values.read_text())
    assert merged["podDisruptionBudget"] == {"minAvailable": 1}  # the template's change
    assert merged["replicaCount"] == 2  # the local change, kept
    answers = yaml.safe_load((platform_repo / "ops/helm/955-billing/.copier-answers.yml").read_text())
    assert answers["_commit"] == "v1.1.0"

    validated = gripctl(platform_repo, "-o", "json", "validate", "--only", "955-billing")
    assert validated.returncode == 0, validated.stdout
    assert json.loads(validated.stdout)["summary"]["error"] == 0

    # Once committed, a second update finds nothing to bring in.
    commit_all(platform_repo, "billing: template v1.1.0")
    again = gripctl(platform_repo, "app", "update", "billing")
    assert again.returncode == 0, again.stderr
    assert "v1.1.0 -> v1.1.0" in again.stdout and "no changes" in again.stdout
    assert git(platform_repo, "status", "--porcelain") == ""


def test_a_conflict_is_left_inline_and_reported(platform_repo: Path, tmp_path: Path) -> None:
    repo = team_template(tmp_path)
    create_app(platform_repo, "billing", number=955, template=str(repo))
    values = platform_repo / "ops/helm/955-billing/values.yaml"
    values.write_text(values.read_text().replace('tag: "6.7.0"', 'tag: "6.7.1"'))
    commit_all(platform_repo, "billing 6.7.1")
    template_values = repo / "[[ charts_dir ]]/[[ release_id ]]/values.yaml.jinja"
    template_values.write_text(template_values.read_text().replace('tag: "[[ image_tag ]]"', 'tag: "6.8.0"'))
    retag(repo, "v1.1.0", "podinfo 6.8.0")

    done = gripctl(platform_repo, "app", "update", "955-billing")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 file(s) with conflicts, left inline" in " ".join(done.stderr.split())
    assert "ops/helm/955-billing/values.yaml" in done.stderr.replace("\n", "")
    text = values.read_text()
    assert "<<<<<<< before updating" in text and ">>>>>>> after updating" in text
    assert 'tag: "6.7.1"' in text and 'tag: "6.8.0"' in text


def test_a_dirty_work_tree_is_refused_with_nothing_written(platform_repo: Path, tmp_path: Path) -> None:
    repo = team_template(tmp_path)
    create_app(platform_repo, "billing", number=955, template=str(repo))
    commit_all(platform_repo, "new app billing")
    _add_pdb(repo)
    retag(repo, "v1.1.0")
    (platform_repo / "docs" / "index.md").write_text("work in progress\n")
    before, status = snapshot(platform_repo), git(platform_repo, "status", "--porcelain")
    done = gripctl(platform_repo, "app", "update", "billing")
    assert done.returncode == 64
    assert "the work tree has uncommitted changes (M docs/index.md)" in done.stderr
    assert "commit or stash them first" in done.stderr
    assert snapshot(platform_repo) == before
    assert git(platform_repo, "status", "--porcelain") == status


def test_an_app_without_a_template_and_a_platform_outside_git_are_refused(tmp_path: Path) -> None:
    root = copy_webgrip(tmp_path)
    before = snapshot(root)
    with pytest.raises(UsageError) as caught:
        update_app(root, "950-example-services")
    assert "950-example-services was not made from a template" in caught.value.message
    create_app(root, "billing", number=955)
    before = snapshot(root)
    with pytest.raises(UsageError) as caught:
        update_app(root, "billing")
    assert "is not in a git work tree" in caught.value.message
    with pytest.raises(UsageError) as caught:
        update_app(root, "no-such-app")
    assert "no release named 'no-such-app'" in caught.value.message
    assert snapshot(root) == before


@pytest.fixture
def packaged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in for the template inside the package, so a test can ship a 'newer gripctl'."""
    copy = tmp_path / "packaged-template"
    shutil.copytree(template_mod.PACKAGED_TEMPLATE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "VERSION").write_text("1.0.0\n")
    monkeypatch.setattr(template_mod, "PACKAGED_TEMPLATE", copy)
    return copy


def test_the_default_template_updates_when_gripctl_ships_a_newer_one(
    platform_repo: Path, packaged: Path, private_cache: Path
) -> None:
    created = create_app(platform_repo, "billing", number=955)
    assert created.template_version == "v1.0.0"
    assert created.template == str(private_cache / "templates" / "default")  # not under $HOME here
    commit_all(platform_repo, "new app billing")

    _add_pdb(packaged)
    (packaged / "VERSION").write_text("1.1.0\n")
    done = update_app(platform_repo, "billing")
    assert (done.from_version, done.to_version, done.conflicts) == ("v1.0.0", "v1.1.0", ())
    assert (platform_repo / "ops/helm/955-billing/templates/pdb.yaml").is_file()


def test_a_default_template_version_missing_from_the_cache_is_explained(
    platform_repo: Path, packaged: Path, private_cache: Path
) -> None:
    create_app(platform_repo, "billing", number=955)
    commit_all(platform_repo, "new app billing")
    shutil.rmtree(private_cache / "templates")  # another machine: it never saw v1.0.0
    (packaged / "VERSION").write_text("1.1.0\n")
    before = snapshot(platform_repo)
    with pytest.raises(TemplateError) as caught:
        update_app(platform_repo, "billing")
    message = str(caught.value)
    assert "made from version v1.0.0 of gripctl's default template" in message
    assert "this gripctl ships v1.1.0" in message and "--template" in message
    assert snapshot(platform_repo) == before
