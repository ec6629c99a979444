"""Selecting releases: --only, selectors (helmfile semantics), needs/dependents, secrets come along."""

from __future__ import annotations

import pytest
from model_helpers import PlatformFactory

from gripctl.errors import UsageError
from gripctl.model import Graph, Platform, load_platform, select

CONFIG = """
apiVersion: gripctl/v1
releases:
  010-cert-manager: {labels: {tier: core}}
  020-issuers: {needs: [010-cert-manager], labels: {tier: core, team: security}}
  030-ingress: {needs: [020-issuers], labels: {tier: core}}
  040-app: {needs: [030-ingress], labels: {tier: apps}}
  050-batch: {labels: {tier: apps, team: data}}
"""


@pytest.fixture
def platform(make_platform: PlatformFactory) -> Platform:
    root = make_platform(
        CONFIG,
        charts=["010-cert-manager", "020-issuers", "030-ingress", "040-app", "050-batch"],
        secrets=["010-cert-manager-secrets", "040-app-secrets"],
    )
    return load_platform(root)


def run(platform: Platform, **kwargs: object) -> list[str]:
    return select(platform, Graph.from_platform(platform), **kwargs)  # type: ignore[arg-type]


def test_everything_by_default_in_topological_order(platform: Platform) -> None:
    assert run(platform) == [
        "010-cert-manager-secrets",
        "010-cert-manager",
        "020-issuers",
        "030-ingress",
        "040-app-secrets",
        "040-app",
        "050-batch",
    ]


def test_only_brings_its_secrets_release(platform: Platform) -> None:
    assert run(platform, only=["040-app", "020-issuers"]) == ["020-issuers", "040-app-secrets", "040-app"]
    assert run(platform, only=["040-app-secrets"]) == ["040-app-secrets"]


def test_include_needs_and_dependents(platform: Platform) -> None:
    assert run(platform, only=["030-ingress"], include_needs=True) == [
        "010-cert-manager-secrets",
        "010-cert-manager",
        "020-issuers",
        "030-ingress",
    ]
    assert run(platform, only=["020-issuers"], include_dependents=True) == [
        "020-issuers",
        "030-ingress",
        "040-app-secrets",  # 040-app came in as a dependent; its secrets come with it
        "040-app",
    ]


def test_selectors_and_or_negation(platform: Platform) -> None:
    assert run(platform, selectors=["tier=apps"]) == ["040-app-secrets", "040-app", "050-batch"]
    assert run(platform, selectors=["tier=core,team=security"]) == ["020-issuers"]  # comma: AND
    assert run(platform, selectors=["team=security", "team=data"]) == [
        "020-issuers",
        "050-batch",
    ]  # repeat: OR
    # != also matches releases without the label (helmfile's rule).
    assert run(platform, selectors=["tier=core,team!=security"]) == [
        "010-cert-manager-secrets",
        "010-cert-manager",
        "030-ingress",
    ]
    assert run(platform, selectors=["name=ingress"]) == ["030-ingress"]  # built-in labels
    assert run(platform, selectors=["id=050-batch"]) == ["050-batch"]
    assert run(platform, selectors=["tier=nothing"]) == []


def test_only_and_selector_both_apply(platform: Platform) -> None:
    assert run(platform, only=["020-issuers", "050-batch"], selectors=["tier=apps"]) == ["050-batch"]


def test_unknown_only_release_is_a_usage_error(platform: Platform) -> None:
    with pytest.raises(UsageError) as info:
        run(platform, only=["030-ingres"])
    assert info.value.message == "--only names '030-ingres', which is not a release of this platform"
    assert info.value.hint is not None and info.value.hint.startswith(
        "did you mean '030-ingress'? known releases: "
    )
    assert info.value.exit_code == 64


@pytest.mark.parametrize("selector", ["tier", "tier=", "=core", "tier=core,", "tier==core"])
def test_malformed_selector(platform: Platform, selector: str) -> None:
    with pytest.raises(UsageError) as info:
        run(platform, selectors=[selector])
    assert info.value.message.startswith(f"invalid selector {selector!r}")
    assert info.value.hint is not None and "key=value or key!=value" in info.value.hint
