"""With helmfile (v1.8.0) on PATH, the exported state is run by helmfile itself: `helmfile template`
renders exactly the manifests gripctl renders for the same releases (values layering and secrets
included), and `helmfile show-dag` deploys in gripctl's waves.

helmfile is part of the opt-in benchmark toolchain only (scripts/toolchain.sh --bench): `make test`
does not need it, and these tests say so when they skip.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from interop_helpers import TEST_KEY, copy_webgrip, same_platform, write_platform

from gripctl import yamlio
from gripctl.adapters import helm
from gripctl.model import Graph, Platform, load_platform
from gripctl.secrets.values import merged_values
from gripctl.service.interop import (
    ExportHelmfileRequest,
    ImportHelmfileRequest,
    export_helmfile,
    import_helmfile,
)

HELMFILE = shutil.which("helmfile")
pytestmark = pytest.mark.skipif(
    HELMFILE is None,
    reason="helmfile is not on PATH: it comes with the opt-in benchmark toolchain "
    "(scripts/toolchain.sh --bench, helmfile v1.8.0); make test does not need it",
)
ENVIRONMENTS = ("staging", "production")


def _helmfile(state: Path, environment: str, *args: str) -> str:
    env = {**os.environ, "SOPS_AGE_KEY_FILE": str(TEST_KEY), "HELMFILE_DISABLE_INSECURE_FEATURES": ""}
    result = subprocess.run(
        [str(HELMFILE), "--file", str(state), "--environment", environment, *args],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        cwd=state.parent,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _documents(manifest: str) -> list[str]:
    """Each rendered object as canonical JSON, sorted: the same objects whatever the order."""
    found = [json.dumps(doc, sort_keys=True) for doc in yamlio.safe_load_all(manifest) if doc]
    return sorted(found)


def _gripctl_render(platform: Platform) -> list[str]:
    """`helm template` of every release with gripctl's layering: files, decrypted secrets on stdin, --set."""
    manifests: list[str] = []
    for release in platform.releases.values():
        values = helm.Values(
            files=release.values_files,
            stdin_yaml=merged_values(release.secrets, platform.root),
            set_values=dict(release.set_values),
        )
        manifests.append(helm.template(release.name, release.chart_path, release.namespace, values))
    return _documents("\n---\n".join(manifests))


@pytest.fixture
def age_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(TEST_KEY))


@pytest.mark.parametrize("one_environment", [True, False], ids=["helmfile.yaml", "helmfile.yaml.gotmpl"])
@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_helmfile_template_renders_what_gripctl_renders(
    tmp_path: Path, environment: str, one_environment: bool, age_key: None
) -> None:
    webgrip = copy_webgrip(tmp_path / "webgrip")
    exported = export_helmfile(
        ExportHelmfileRequest(root=webgrip, environment=environment if one_environment else None)
    )
    rendered = _helmfile(Path(exported.out or ""), environment, "template")
    expected = _gripctl_render(load_platform(webgrip, environment))
    assert len(expected) > 20
    assert _documents(rendered) == expected


def _dag_groups(table: str) -> list[set[str]]:
    groups: dict[int, set[str]] = {}
    for line in table.splitlines():
        cells = line.split()
        if len(cells) >= 2 and cells[0].isdigit():
            groups.setdefault(int(cells[0]), set()).add(cells[1])
    return [groups[number] for number in sorted(groups)]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_helmfile_deploys_in_gripctls_waves(tmp_path: Path, environment: str, age_key: None) -> None:
    webgrip = copy_webgrip(tmp_path / "webgrip")
    exported = export_helmfile(ExportHelmfileRequest(root=webgrip))
    platform = load_platform(webgrip, environment)
    waves = Graph.from_platform(platform).waves()

    expected = [
        {f"{platform.releases[r].namespace}/{platform.releases[r].name}" for r in wave} for wave in waves
    ]
    groups = _dag_groups(_helmfile(Path(exported.out or ""), environment, "show-dag"))
    if not any("/" in entry for group in groups for entry in group):  # the table shows bare names
        expected = [{entry.split("/")[-1] for entry in wave} for wave in expected]
    assert groups == expected


def test_helmfile_build_output_imports_as_that_environment(tmp_path: Path, age_key: None) -> None:
    """`helmfile -e ENV build` prints the state as helmfile resolved it; importing that gives back the
    platform of that environment (and says the other environments got its values)."""
    webgrip = copy_webgrip(tmp_path / "webgrip")
    exported = export_helmfile(ExportHelmfileRequest(root=webgrip))
    built = webgrip / "built.yaml"
    built.write_text(_helmfile(Path(exported.out or ""), "staging", "build"))
    into = tmp_path / "imported"
    into.mkdir()
    result = import_helmfile(ImportHelmfileRequest(source=built, into=into))
    assert result.gaps == ()
    assert [n.topic for n in result.notes] == ["build"]
    same_platform(webgrip, into, "staging")


SET_VALUES = r"""
apiVersion: gripctl/v1
releases:
  010-api:
    name: backend
    namespace: apps
    set:
      replicas: "3"
      ingress.hosts: "{a.example,b.example}"
      note: 'x\,y'
      braces: '\{\{ literal \}\}'
      enabled: "true"
    values:
      staging: [values/api-staging.yaml]
  020-worker:
    namespace: apps
environments:
  staging:
    values: [values/common.yaml]
  production:
    values: [values/common.yaml, values/production.yaml]
"""


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_set_values_and_layering_reach_helm_alike(tmp_path: Path, environment: str) -> None:
    """helmfile escapes `,` `{` `}` in set values; the export undoes gripctl's escaping so that helm gets
    the same --set arguments, and the values files come in the same order (the chart prints its values)."""
    root = write_platform(
        tmp_path / "p",
        SET_VALUES,
        charts=["010-api", "020-worker"],
        files={
            "values/common.yaml": "level: common\nkeep: 1\n",
            "values/production.yaml": "level: production\n",
            "values/api-staging.yaml": "level: api-staging\n",
            "envs/production/020-worker.yaml": "level: worker-production\n",
        },
    )
    exported = export_helmfile(ExportHelmfileRequest(root=root))
    rendered = _documents(_helmfile(Path(exported.out or ""), environment, "template"))
    assert rendered == _gripctl_render(load_platform(root, environment))
    values = {
        json.loads(d)["metadata"]["name"]: json.loads(json.loads(d)["data"]["values"]) for d in rendered
    }
    assert values["backend"]["ingress"] == {"hosts": ["a.example", "b.example"]}
    assert values["backend"]["note"] == "x,y" and values["backend"]["braces"] == "{{ literal }}"
    expected_level = {"staging": "common", "production": "worker-production"}[environment]
    assert values["worker"]["level"] == expected_level
