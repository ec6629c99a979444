"""Loading gripctl.yaml and the ops/ tree: names, values layering, defaults, environments, secrets."""

from __future__ import annotations

from pathlib import Path

import pytest
from model_helpers import PlatformFactory

from gripctl.errors import UsageError
from gripctl.model import (
    Approval,
    HttpCheck,
    Remediation,
    SecretsSource,
    environment_names,
    load_platform,
)

FULL = """
apiVersion: gripctl/v1
charts: ops/helm
secrets: ops/secrets
defaults:
  timeout: 5m
  remediation: uninstall
releases:
  010-cert-manager:
    labels: {tier: core, critical: true}
    set: {installCRDs: true, replicas: 2}
  020-cluster-issuers:
    needs: [010-cert-manager]
    namespace: cert-manager
    name: issuers
    timeout: 120
    remediation: none
    create_namespace: false
    health:
      http:
        - url: http://issuer.example/healthz
          expect: 204
          timeout: 2s
    values:
      production: [envs/production/issuers-extra.yaml]
  900-extra:
    chart: vendor/extra-chart
    needs: [020-cluster-issuers]
environments:
  staging:
    context: sandbox
    deploy: auto
    values: [envs/staging/values.yaml]
    monitor: 1m30s
  production:
    context: prod
    kubeconfig: kube/prod.yaml
    approval: required
    approvers: [alice, bob]
    values: envs/production/values.yaml
    monitor: 60
    concurrency: 2
"""

FILES = {
    "envs/staging/values.yaml": "a: 1\n",
    "envs/production/values.yaml": "a: 2\n",
    "envs/production/issuers-extra.yaml": "b: 1\n",
    "envs/production/020-cluster-issuers.yaml": "c: 1\n",
    "vendor/extra-chart/Chart.yaml": "apiVersion: v2\nname: extra\nversion: 1.0.0\n",
}


@pytest.fixture
def full(make_platform: PlatformFactory) -> Path:
    return make_platform(
        FULL,
        charts=["010-cert-manager", "020-cluster-issuers", "lib-common"],
        secrets=["010-cert-manager-secrets"],
        files=FILES,
    )


def test_releases_are_discovered_named_and_ordered(full: Path) -> None:
    platform = load_platform(full, "staging")
    assert list(platform.releases) == [
        "010-cert-manager",
        "010-cert-manager-secrets",
        "020-cluster-issuers",
        "900-extra",
    ]  # lib-common does not start with a number: a library chart, not a release
    cert = platform.releases["010-cert-manager"]
    assert (cert.name, cert.namespace, cert.order) == ("cert-manager", "cert-manager", 10)
    assert cert.chart_path == full / "ops/helm/010-cert-manager"
    issuers = platform.releases["020-cluster-issuers"]
    assert (issuers.name, issuers.namespace) == ("issuers", "cert-manager")
    assert platform.releases["900-extra"].chart_path == full / "vendor/extra-chart"


def test_secrets_release_serves_its_release(full: Path) -> None:
    platform = load_platform(full, "staging")
    secrets = platform.releases["010-cert-manager-secrets"]
    assert secrets.secrets_for == "010-cert-manager"
    assert secrets.secrets == (SecretsSource(full / "ops/secrets/010-cert-manager-secrets/values.sops.yaml"),)
    assert (secrets.name, secrets.namespace) == ("cert-manager-secrets", "cert-manager")
    assert secrets.chart_path == full / "ops/secrets/010-cert-manager-secrets"
    assert secrets.labels == {"tier": "core", "critical": "true"}  # selectors pick both or neither
    assert platform.releases["010-cert-manager"].needs == ("010-cert-manager-secrets",)
    assert platform.releases["010-cert-manager"].secrets == ()


def test_settings_defaults_and_overrides(full: Path) -> None:
    platform = load_platform(full, "staging")
    cert = platform.releases["010-cert-manager"]
    assert cert.timeout_seconds == 300  # defaults.timeout: 5m
    assert cert.remediation is Remediation.uninstall
    assert cert.labels == {"tier": "core", "critical": "true"}
    assert cert.set_values == {"installCRDs": "true", "replicas": "2"}
    assert cert.create_namespace is True
    issuers = platform.releases["020-cluster-issuers"]
    assert issuers.timeout_seconds == 120
    assert issuers.remediation is Remediation.none
    assert issuers.create_namespace is False
    assert issuers.http_checks == (HttpCheck("http://issuer.example/healthz", 204, 2.0),)


def test_values_layering_per_environment(full: Path) -> None:
    staging = load_platform(full, "staging").releases["020-cluster-issuers"]
    assert staging.values_files == (full / "envs/staging/values.yaml",)
    production = load_platform(full, "production").releases["020-cluster-issuers"]
    assert production.values_files == (
        full / "envs/production/values.yaml",  # environment-wide first
        full / "envs/production/issuers-extra.yaml",  # then the release's values.production
        full / "envs/production/020-cluster-issuers.yaml",  # then envs/<env>/<id>.yaml, found by name
    )
    assert load_platform(full, "production").releases["010-cert-manager"].values_files == (
        full / "envs/production/values.yaml",
    )


def test_environment_fields(full: Path) -> None:
    platform = load_platform(full, "production")
    env = platform.environment
    assert env.name == "production"
    assert env.context == "prod"
    assert env.kubeconfig == full / "kube/prod.yaml"
    assert env.deploy == "manual"
    assert env.approval is Approval.required
    assert env.approvers == ("alice", "bob")
    assert env.monitor_seconds == 60.0
    assert env.concurrency == 2
    staging = platform.environments["staging"]
    assert (staging.deploy, staging.approval, staging.monitor_seconds, staging.concurrency) == (
        "auto",
        Approval.none,
        90.0,
        4,
    )
    assert environment_names(full) == ["staging", "production"]


def test_no_environment_with_several_is_the_neutral_default(full: Path) -> None:
    platform = load_platform(full)
    assert platform.environment.name == "default"
    assert platform.environment.context is None
    assert all(release.values_files == () for release in platform.releases.values())


def test_no_environment_with_exactly_one_picks_it(make_platform: PlatformFactory) -> None:
    root = make_platform(
        """
        apiVersion: gripctl/v1
        environments:
          staging: {context: sandbox}
        """,
        charts=["010-a"],
    )
    assert load_platform(root).environment.name == "staging"


def test_minimal_platform_orders_by_number(make_platform: PlatformFactory) -> None:
    root = make_platform(
        "apiVersion: gripctl/v1\n", charts=["010-a", "020-b", "005-c"], secrets=["020-b-secrets"]
    )
    platform = load_platform(root)
    assert platform.environment.name == "default"
    assert environment_names(root) == []
    assert platform.releases["005-c"].needs == ()
    assert platform.releases["010-a"].needs == ("005-c",)
    assert platform.releases["020-b"].needs == ("010-a", "020-b-secrets")
    assert platform.releases["020-b-secrets"].needs == ()
    assert platform.releases["005-c"].timeout_seconds == 300
    assert platform.releases["005-c"].remediation is Remediation.rollback


def test_unknown_environment_lists_known_ones(full: Path) -> None:
    with pytest.raises(UsageError) as info:
        load_platform(full, "prodution")
    assert info.value.message == "no environment named 'prodution' in gripctl.yaml"
    assert info.value.hint == "did you mean 'production'? known environments: staging, production"
    assert info.value.exit_code == 64


def test_locations_are_kept_for_other_rooms(full: Path) -> None:
    platform = load_platform(full, "staging")
    location = platform.locations["releases.020-cluster-issuers.needs[0]"]
    assert (location.path, location.line, location.column) == (
        "gripctl.yaml",
        12,
        13,
    )  # line 12: `    needs: [010-cert-manager]`
    assert platform.raw["defaults"] == {"timeout": "5m", "remediation": "uninstall"}


def test_yaml_anchors_and_merge_keys(make_platform: PlatformFactory) -> None:
    root = make_platform(
        """
        apiVersion: gripctl/v1
        defaults: &defaults
          timeout: 60
        releases:
          010-a:
            <<: *defaults
          020-b:
            needs: 010-a
            <<: *defaults
        """,
        charts=["010-a", "020-b"],
    )
    platform = load_platform(root)
    assert platform.releases["020-b"].timeout_seconds == 60
    assert platform.releases["020-b"].needs == ("010-a",)
    # A merged key has no line of its own; it points at the mapping it was merged into.
    assert str(platform.locations["releases.020-b.timeout"]) == "gripctl.yaml:8:5 (releases.020-b.timeout)"


def test_a_declared_environment_named_default_gives_its_values_to_every_release(tmp_path: Path) -> None:
    """`default` declared in gripctl.yaml is an environment like any other, not the neutral one."""
    from model_helpers import write_platform

    root = write_platform(
        tmp_path / "p",
        """
        apiVersion: gripctl/v1
        releases:
          020-b: {values: {default: [envs/b.yaml]}}
        environments:
          default: {values: [envs/all.yaml]}
        """,
        charts=["010-a", "020-b"],
        files={"envs/all.yaml": "a: 1\n", "envs/b.yaml": "b: 1\n"},
    )
    platform = load_platform(root, "default")
    assert [f.name for f in platform.release("010-a").values_files] == ["all.yaml"]
    assert [f.name for f in platform.release("020-b").values_files] == ["all.yaml", "b.yaml"]
