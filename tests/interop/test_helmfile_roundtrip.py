"""export -> import -> load_platform gives the same releases, needs, namespaces and values layering: the
example in each secrets mode and environment selection, and a small platform that uses the rest of
gripctl.yaml's release settings (names, namespaces, set, create_namespace, timeouts, no needs)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from interop_helpers import TEST_KEY, copy_webgrip, release_view, same_platform, write_platform

from gripctl.interop.helmfile import SecretsMode
from gripctl.model import load_platform
from gripctl.service.interop import (
    ExportHelmfileRequest,
    ImportHelmfileRequest,
    export_helmfile,
    import_helmfile,
)

ENVIRONMENTS = ("staging", "production")


@pytest.mark.parametrize("secrets", [SecretsMode.sops, SecretsMode.helm_secrets])
def test_webgrip_all_environments(tmp_path: Path, secrets: SecretsMode) -> None:
    webgrip = copy_webgrip(tmp_path / "webgrip")
    exported = export_helmfile(ExportHelmfileRequest(root=webgrip, secrets=secrets))
    into = tmp_path / "imported"
    into.mkdir()
    imported = import_helmfile(ImportHelmfileRequest(source=Path(exported.out or ""), into=into))
    assert imported.gaps == ()
    assert imported.environments == ENVIRONMENTS
    for environment in ENVIRONMENTS:
        same_platform(webgrip, into, environment)
    config = yaml.safe_load((into / "gripctl.yaml").read_text())
    # The layout comes back, not a list of chart paths: the charts and secrets folders are found again.
    assert config["charts"] == "../webgrip/ops/helm" and config["secrets"] == "../webgrip/ops/secrets"
    assert config["environments"]["production"] == {
        "context": load_platform(webgrip, "production").environment.context,  # its own cluster
        "values": ["../webgrip/envs/production/values.yaml"],
    }


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_webgrip_one_environment_into_its_own_repository(tmp_path: Path, environment: str) -> None:
    """Importing next to the exported helmfile (a team moving from helmfile to gripctl in place)."""
    webgrip = copy_webgrip(tmp_path / "webgrip")
    original = load_platform(webgrip, environment)
    exported = export_helmfile(ExportHelmfileRequest(root=webgrip, environment=environment))
    (webgrip / "gripctl.yaml").rename(tmp_path / "gripctl.yaml.orig")
    import_helmfile(ImportHelmfileRequest(source=Path(exported.out or "")))
    again = load_platform(webgrip, environment)
    assert release_view(again) == release_view(original)
    assert list(again.environments) == [environment]


def test_webgrip_plaintext_export_comes_back_to_its_sops_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(TEST_KEY))
    webgrip = copy_webgrip(tmp_path / "webgrip")
    exported = export_helmfile(
        ExportHelmfileRequest(root=webgrip, environment="staging", secrets=SecretsMode.plaintext)
    )
    into = tmp_path / "imported"
    into.mkdir()
    import_helmfile(ImportHelmfileRequest(source=Path(exported.out or ""), into=into))
    same_platform(webgrip, into, "staging")


SMALL = """
apiVersion: gripctl/v1
defaults:
  timeout: 600s
  create_namespace: false
releases:
  010-api:
    name: backend
    namespace: apps
    labels: {team: web}
    set:
      replicas: "3"
      ingress.hosts: "{a.example,b.example}"
      note: 'x\\,y'
      tpl: '\\{\\{ .Values.x \\}\\}'
    values:
      staging: [values/api-staging.yaml]
  020-worker:
    namespace: apps
    timeout: 90s
    create_namespace: true
environments:
  staging:
    values: [values/common.yaml]
  production:
    context: prod-context
    values: [values/common.yaml, values/production.yaml]
"""


def test_release_settings_survive(tmp_path: Path) -> None:
    """Including a set value that looks like a template: the .gotmpl export escapes it, the import
    renders it back to the literal."""
    root = write_platform(
        tmp_path / "p",
        SMALL,
        charts=["010-api", "020-worker"],
        files={
            "values/common.yaml": "a: 1\n",
            "values/production.yaml": "a: 2\n",
            "values/api-staging.yaml": "b: 1\n",
            "envs/production/020-worker.yaml": "c: 1\n",  # picked up by gripctl without being named
        },
    )
    exported = export_helmfile(
        ExportHelmfileRequest(root=root, out=tmp_path / "out" / "helmfile.yaml.gotmpl")
    )
    into = tmp_path / "imported"
    into.mkdir()
    imported = import_helmfile(ImportHelmfileRequest(source=Path(exported.out or ""), into=into))
    assert imported.gaps == () and imported.notes == ()
    # gripctl's numeric order (no needs declared) was exported as needs, and comes back declared.
    assert yaml.safe_load((into / "gripctl.yaml").read_text())["releases"]["020-worker"]["needs"] == [
        "010-api"
    ]
    for environment in ENVIRONMENTS:
        same_platform(root, into, environment)
    worker = load_platform(into, "production").releases["020-worker"]
    assert [f.name for f in worker.values_files] == ["common.yaml", "production.yaml", "020-worker.yaml"]
    assert load_platform(into, "production").releases["020-worker"].needs == ("010-api",)
