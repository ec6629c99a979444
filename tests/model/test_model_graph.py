"""The dependency graph: order, waves, critical path, needs/dependents, strict numeric order, cycles."""

from __future__ import annotations

from pathlib import Path

import pytest
from model_helpers import PlatformFactory

from gripctl.errors import ConfigError, UsageError
from gripctl.model import Graph, load_platform


def diamond() -> Graph:
    #      010-a
    #     /     \
    #  020-b   030-c
    #     \     /
    #      040-d      050-e (alone)
    return Graph.from_needs(
        {"040-d": ["030-c", "020-b"], "030-c": ["010-a"], "020-b": ["010-a"], "010-a": [], "050-e": []},
        {"010-a": 10, "020-b": 20, "030-c": 30, "040-d": 40, "050-e": 50},
    )


def test_topological_breaks_ties_by_number() -> None:
    assert diamond().topological() == ["010-a", "020-b", "030-c", "040-d", "050-e"]
    # Numbers, not text: 100 comes after 20 and 9.
    graph = Graph.from_needs({"100-x": [], "20-y": [], "9-z": []}, {"100-x": 100, "20-y": 20, "9-z": 9})
    assert graph.topological() == ["9-z", "20-y", "100-x"]


def test_topological_respects_needs_against_numbers() -> None:
    graph = Graph.from_needs({"010-a": ["020-b"], "020-b": []}, {"010-a": 10, "020-b": 20})
    assert graph.topological() == ["020-b", "010-a"]


def test_waves_group_what_can_run_together() -> None:
    assert diamond().waves() == [["010-a", "050-e"], ["020-b", "030-c"], ["040-d"]]


def test_critical_path_unit_and_weighted() -> None:
    graph = diamond()
    assert graph.critical_path() == ["010-a", "020-b", "040-d"]  # tie: first met in topological order
    assert graph.critical_path({"010-a": 1, "020-b": 1, "030-c": 5, "040-d": 1}) == [
        "010-a",
        "030-c",
        "040-d",
    ]
    assert graph.critical_path({"050-e": 100}) == ["050-e"]
    assert Graph.from_needs({}).critical_path() == []
    with pytest.raises(ValueError, match="negative"):
        graph.critical_path({"010-a": -1})


def test_needs_and_dependents_direct_and_transitive() -> None:
    graph = diamond()
    assert graph.needs("040-d") == ["020-b", "030-c"]
    assert graph.needs("040-d", transitive=True) == ["010-a", "020-b", "030-c"]
    assert graph.dependents("010-a") == ["020-b", "030-c"]
    assert graph.dependents("010-a", transitive=True) == ["020-b", "030-c", "040-d"]
    assert graph.dependents("050-e", transitive=True) == []
    assert graph.edges() == [("010-a", "020-b"), ("010-a", "030-c"), ("020-b", "040-d"), ("030-c", "040-d")]


def test_unknown_release_lookup_is_a_usage_error() -> None:
    with pytest.raises(UsageError) as info:
        diamond().needs("030-cc")
    assert info.value.message == "no release named '030-cc'"
    assert info.value.hint == "did you mean '030-c'?"


def test_subgraph_keeps_order_through_unselected_releases() -> None:
    # 040-d reaches 010-a only through 020-b/030-c; without them it still comes after 010-a.
    sub = diamond().subgraph(["010-a", "040-d"])
    assert sub.waves() == [["010-a"], ["040-d"]]
    assert sub.edges() == [("010-a", "040-d")]


def test_cycle_in_a_hand_built_graph() -> None:
    with pytest.raises(ConfigError) as info:
        Graph.from_needs({"020-b": ["010-a"], "010-a": ["020-b"]}, {"010-a": 10, "020-b": 20})
    assert info.value.message == "dependency cycle: 010-a -> 020-b -> 010-a"
    assert info.value.hint is not None and "remove one of these needs" in info.value.hint


def test_unknown_need_in_a_hand_built_graph() -> None:
    with pytest.raises(ConfigError, match="release '010-a' needs '020-c', but there is no release '020-c'"):
        Graph.from_needs({"010-a": ["020-c"], "020-b": []})


def test_strict_numeric_order_when_nothing_declares_needs(make_platform: PlatformFactory) -> None:
    root = make_platform(
        "apiVersion: gripctl/v1\n",
        charts=["030-c", "010-a", "020-b", "100-d"],
        secrets=["020-b-secrets", "100-d-secrets"],
    )
    graph = Graph.from_platform(load_platform(root))
    # The implicit secrets edges do not count as declared needs: the chain still applies.
    assert graph.waves() == [["010-a", "020-b-secrets", "100-d-secrets"], ["020-b"], ["030-c"], ["100-d"]]
    assert graph.topological() == ["010-a", "020-b-secrets", "020-b", "030-c", "100-d-secrets", "100-d"]


def test_one_declared_need_turns_strict_order_off(make_platform: PlatformFactory) -> None:
    root = make_platform(
        "apiVersion: gripctl/v1\nreleases:\n  030-c: {needs: [010-a]}\n", charts=["010-a", "020-b", "030-c"]
    )
    graph = Graph.from_platform(load_platform(root))
    assert graph.waves() == [["010-a", "020-b"], ["030-c"]]


def test_example_like_platform_waves(make_platform: PlatformFactory) -> None:
    root = make_platform(WEBGRIP_LIKE, charts=WEBGRIP_CHARTS, secrets=WEBGRIP_SECRETS)
    graph = Graph.from_platform(load_platform(root))
    assert graph.waves() == WEBGRIP_WAVES
    assert graph.critical_path() == WEBGRIP_CRITICAL_PATH


WEBGRIP_CHARTS = [
    "005-tainters",
    "007-cluster-monitoring",
    "010-cert-manager",
    "020-cluster-issuers",
    "030-ingress-controllers",
    "040-gha-runners-controller",
    "045-gha-runners",
    "060-grafana-stack",
    "950-example-services",
]
WEBGRIP_SECRETS = ["010-cert-manager-secrets", "060-grafana-stack-secrets", "950-example-services-secrets"]
WEBGRIP_LIKE = """
apiVersion: gripctl/v1
releases:
  007-cluster-monitoring: {needs: [005-tainters]}
  010-cert-manager: {needs: [007-cluster-monitoring]}
  020-cluster-issuers: {needs: [010-cert-manager], namespace: cert-manager}
  030-ingress-controllers: {needs: [020-cluster-issuers]}
  040-gha-runners-controller: {needs: [030-ingress-controllers]}
  045-gha-runners: {needs: [040-gha-runners-controller]}
  060-grafana-stack: {needs: [007-cluster-monitoring]}
  950-example-services: {needs: [030-ingress-controllers, 060-grafana-stack]}
"""
# Worked out by hand: a release's wave is one after the latest wave among its needs, and each
# NNN-name needs its NNN-name-secrets, which need nothing and so start in wave 1.
WEBGRIP_WAVES = [
    ["005-tainters", "010-cert-manager-secrets", "060-grafana-stack-secrets", "950-example-services-secrets"],
    ["007-cluster-monitoring"],
    ["010-cert-manager", "060-grafana-stack"],
    ["020-cluster-issuers"],
    ["030-ingress-controllers"],
    ["040-gha-runners-controller", "950-example-services"],
    ["045-gha-runners"],
]
WEBGRIP_CRITICAL_PATH = [
    "005-tainters",
    "007-cluster-monitoring",
    "010-cert-manager",
    "020-cluster-issuers",
    "030-ingress-controllers",
    "040-gha-runners-controller",
    "045-gha-runners",
]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "webgrip"


@pytest.mark.skipif(not (EXAMPLE / "gripctl.yaml").exists(), reason="examples/webgrip is not in this tree")
def test_the_webgrip_example_waves() -> None:
    for environment in ("staging", "production"):
        platform = load_platform(EXAMPLE, environment)
        assert set(platform.releases) == {*WEBGRIP_CHARTS, *WEBGRIP_SECRETS}
        graph = Graph.from_platform(platform)
        assert graph.waves() == WEBGRIP_WAVES
        assert graph.critical_path() == WEBGRIP_CRITICAL_PATH
        assert platform.releases["010-cert-manager"].needs == (
            "007-cluster-monitoring",
            "010-cert-manager-secrets",
        )
        assert platform.releases["020-cluster-issuers"].namespace == "cert-manager"
        assert (
            platform.releases["060-grafana-stack-secrets"].namespace
            == platform.releases["060-grafana-stack"].namespace
        )
