"""gripctl.yaml's drift ignore rules, Prometheus settings and `health.prometheus` queries: loaded into
typed fields, and every mistake reported with its file:line and a hint, the repository unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest
from model_helpers import PlatformFactory, snapshot

from gripctl.errors import ConfigError, GripError, Location
from gripctl.model import load_platform
from gripctl.model.pointer import PointerError, format_pointer, parse_pointer, pointer_covers
from gripctl.model.types import DriftIgnoreRule, DriftTarget, OnUnreachable, PrometheusCheck

CHARTS = ["010-web", "020-api"]

FULL = """
apiVersion: gripctl/v1
drift:
  ignore:
    - paths: [/spec/replicas]
      target: {kind: Deployment, labels: {autoscaled: "true"}}
      reason: an HPA scales these
    - managers: [kube-controller-manager]
releases:
  010-web:
    health:
      prometheus:
        - query: sum(rate(errors_total{namespace="${namespace}", release="${release}"}[1m]))
          max: 0.5
          for: 30s
          name: error rate of ${id}
    drift:
      ignore:
        - paths: ["", /data/~1weird~0key]
          target: {kind: ConfigMap, name: "cache-*", namespace: web}
environments:
  staging:
    context: ctx
    prometheus:
      url: http://127.0.0.1:9090/
      on_unreachable: warn
      timeout: 2s
    health:
      prometheus:
        - query: up{namespace="${namespace}"}
          min: 1
  production:
    context: ctx
    prometheus: {url: https://prom.example}
"""


def load_error(root: Path, environment: str | None = None) -> GripError:
    before = snapshot(root)
    with pytest.raises(GripError) as info:
        load_platform(root, environment)
    assert snapshot(root) == before, "loading a platform must not change any file"
    return info.value


def test_full_example_loads_into_typed_fields(make_platform: PlatformFactory) -> None:
    root = make_platform(FULL, charts=CHARTS)
    platform = load_platform(root, "staging")

    assert platform.environment.prometheus is not None
    assert platform.environment.prometheus.url == "http://127.0.0.1:9090"  # trailing slash dropped
    assert platform.environment.prometheus.on_unreachable is OnUnreachable.warn
    assert platform.environment.prometheus.timeout_seconds == 2.0

    web = platform.release("010-web")
    assert web.prometheus_checks == (
        PrometheusCheck(
            query='sum(rate(errors_total{namespace="web", release="web"}[1m]))',
            max=0.5,
            min=None,
            for_seconds=30.0,
            name="error rate of 010-web",
            location=Location("gripctl.yaml", 12, 11, "releases.010-web.health.prometheus[0]"),
        ),
    )
    # 020-api declares none of its own: the environment's default, with its own namespace substituted
    api = platform.release("020-api")
    assert [c.query for c in api.prometheus_checks] == ['up{namespace="api"}']
    assert api.prometheus_checks[0].min == 1.0 and api.prometheus_checks[0].max is None

    assert platform.drift_ignore == (
        DriftIgnoreRule(
            paths=("/spec/replicas",),
            target=DriftTarget(kind="Deployment", labels={"autoscaled": "true"}),
            reason="an HPA scales these",
            location=Location("gripctl.yaml", 4, 7, "drift.ignore[0]"),
        ),
        DriftIgnoreRule(
            managers=("kube-controller-manager",),
            location=Location("gripctl.yaml", 7, 7, "drift.ignore[1]"),
        ),
    )
    own = web.drift_ignore
    assert len(own) == 1 and own[0].release == "010-web"
    assert own[0].paths == ("", "/data/~1weird~0key")
    assert own[0].target == DriftTarget(kind="ConfigMap", name="cache-*", namespace="web")
    assert platform.drift_rules("010-web") == (*platform.drift_ignore, *own)
    assert platform.drift_rules("020-api") == platform.drift_ignore


def test_production_has_no_default_queries(make_platform: PlatformFactory) -> None:
    root = make_platform(FULL, charts=CHARTS)
    platform = load_platform(root, "production")
    assert platform.environment.prometheus is not None
    assert platform.environment.prometheus.on_unreachable is OnUnreachable.fail  # the default
    assert platform.environment.prometheus.timeout_seconds == 5.0
    assert platform.release("020-api").prometheus_checks == ()
    assert len(platform.release("010-web").prometheus_checks) == 1


def test_release_may_opt_out_of_the_environment_default(make_platform: PlatformFactory) -> None:
    root = make_platform(
        """
        apiVersion: gripctl/v1
        releases:
          020-api:
            health: {prometheus: []}
        environments:
          staging:
            prometheus: {url: http://127.0.0.1:9090}
            health: {prometheus: [{query: up, min: 1}]}
        """,
        charts=CHARTS,
    )
    platform = load_platform(root, "staging")
    assert platform.release("020-api").prometheus_checks == ()
    assert [c.query for c in platform.release("010-web").prometheus_checks] == ["up"]


def test_neutral_environment_needs_no_prometheus(make_platform: PlatformFactory) -> None:
    root = make_platform(
        """
        apiVersion: gripctl/v1
        releases:
          010-web:
            health: {prometheus: [{query: up, min: 1}]}
        """,
        charts=CHARTS,
    )
    platform = load_platform(root)
    assert [c.query for c in platform.release("010-web").prometheus_checks] == ["up"]


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        ("", ()),
        ("/spec/replicas", ("spec", "replicas")),
        ("/metadata/labels/app.kubernetes.io~1name", ("metadata", "labels", "app.kubernetes.io/name")),
        ("/a~0b/~01", ("a~b", "~1")),
        ("/spec/containers/*/image", ("spec", "containers", "*", "image")),
        ("/", ("",)),
    ],
)
def test_pointer_round_trip(text: str, segments: tuple[str, ...]) -> None:
    assert parse_pointer(text) == segments
    assert format_pointer(segments) == text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("spec/replicas", "a JSON pointer starts with '/'"),
        ("/a~2b", "'~' in a JSON pointer must be written ~0"),
        ("/trailing~", "'~' in a JSON pointer must be written ~0"),
    ],
)
def test_bad_pointers(text: str, message: str) -> None:
    with pytest.raises(PointerError, match=message):
        parse_pointer(text)


def test_pointer_covers_descendants_and_wildcards() -> None:
    pattern = parse_pointer("/spec/template/spec/containers/*/image")
    assert pointer_covers(pattern, ["spec", "template", "spec", "containers", 0, "image"])
    assert pointer_covers(pattern, ["spec", "template", "spec", "containers", 3, "image", "x"])
    assert not pointer_covers(pattern, ["spec", "template", "spec", "containers", 0, "name"])
    assert not pointer_covers(pattern, ["spec", "template"])
    assert pointer_covers((), ["anything"])


# -- bad input -------------------------------------------------------------------------------------


QUERIES = "releases:\n  010-web:\n    health:\n      prometheus:\n        - "


def config(body: str) -> str:
    return "apiVersion: gripctl/v1\n" + body


@pytest.mark.parametrize(
    ("body", "message", "line", "key_path", "hint"),
    [
        (
            QUERIES + "query: up\n          for: 30s\n",
            "a prometheus health check needs a threshold: max, min or both",
            5,
            "releases.010-web.health.prometheus[0]",
            "for example max: 0.05",
        ),
        (
            QUERIES + "{query: up, max: 1, for: soon}\n",
            "invalid duration 'soon'",
            5,
            "releases.010-web.health.prometheus[0].for",
            'write seconds (300) or a duration such as "300s"',
        ),
        (
            QUERIES + "{query: up, max: lots}\n",
            "expected a number, got string 'lots'",
            5,
            "releases.010-web.health.prometheus[0].max",
            None,
        ),
        (
            QUERIES + "{query: up, max: 1, min: 2}\n",
            "max (1) is below min (2): no value could pass",
            5,
            "releases.010-web.health.prometheus[0].max",
            None,
        ),
        (
            QUERIES + "{max: 1}\n",
            "a prometheus health check needs a query",
            5,
            "releases.010-web.health.prometheus[0]",
            None,
        ),
        (
            QUERIES + "{query: 'up{ns=\"${namespce}\"}', max: 1}\n",
            "unknown placeholder ${namespce} in the query",
            5,
            "releases.010-web.health.prometheus[0].query",
            "did you mean 'namespace'?",
        ),
        (
            QUERIES + "{quary: up, max: 1}\n",
            "unknown key 'quary'",
            5,
            "releases.010-web.health.prometheus[0].quary",
            "did you mean 'query'?",
        ),
        (
            "releases:\n  010-web:\n    health:\n      prometheus: up\n",
            "expected a list of queries, got a string",
            4,
            "releases.010-web.health.prometheus",
            None,
        ),
        (
            "drift:\n  ignore:\n    - paths: [spec/replicas]\n",
            "a JSON pointer starts with '/' (or is empty for the whole object): 'spec/replicas'",
            3,
            "drift.ignore[0].paths[0]",
            "write a JSON pointer such as /spec/replicas",
        ),
        (
            "drift:\n  ignore:\n    - target: {kind: Deployment}\n",
            "an ignore rule needs paths (JSON pointers), managers (field managers), or both",
            3,
            "drift.ignore[0]",
            "for example paths: [/spec/replicas]",
        ),
        (
            "drift:\n  ignore:\n    - paths: [/spec/replicas]\n      target: {knd: Deployment}\n",
            "unknown key 'knd'",
            4,
            "drift.ignore[0].target.knd",
            "did you mean 'kind'?",
        ),
        (
            "drift:\n  ignroe: []\n",
            "unknown key 'ignroe'",
            2,
            "drift.ignroe",
            "did you mean 'ignore'?",
        ),
        (
            "releases:\n  010-web:\n    drift:\n      ignore:\n        - managers: [[a]]\n",
            "expected a non-empty string, got list",
            5,
            "releases.010-web.drift.ignore[0].managers[0]",
            None,
        ),
        (
            "releases:\n  010-web:\n    drift:\n      ignore: {paths: [/a]}\n",
            "expected a list of ignore rules, got a mapping",
            4,
            "releases.010-web.drift.ignore",
            None,
        ),
        (
            "environments:\n  staging:\n    prometheus: {url: prom:9090}\n",
            "prometheus url 'prom:9090' must start with http:// or https://",
            3,
            "environments.staging.prometheus.url",
            None,
        ),
        (
            "environments:\n  staging:\n    prometheus:\n      url: http://p\n      on_unreachable: ignore\n",
            "invalid value 'ignore'",
            5,
            "environments.staging.prometheus.on_unreachable",
            " choose one of: fail, warn",
        ),
        (
            "environments:\n  staging:\n    prometheus: {on_unreachable: warn}\n",
            "prometheus needs a url",
            3,
            "environments.staging.prometheus",
            "for example url: http://prometheus.monitoring:9090",
        ),
        (
            "environments:\n  staging:\n    health:\n      http: []\n",
            "unknown key 'http'",
            4,
            "environments.staging.health.http",
            "allowed keys: prometheus",
        ),
    ],
)
def test_config_errors_name_the_line(
    make_platform: PlatformFactory, body: str, message: str, line: int, key_path: str, hint: str | None
) -> None:
    root = make_platform(config(body), charts=CHARTS)
    err = load_error(root)
    assert isinstance(err, ConfigError)
    assert err.message == message
    assert err.location is not None
    # `line` counts within `body`; the file starts with the apiVersion line
    assert (err.location.path, err.location.line, err.location.key_path) == (
        "gripctl.yaml",
        line + 1,
        key_path,
    )
    if hint is None:
        assert err.hint is None
    else:
        assert err.hint is not None and hint in err.hint
    assert err.exit_code == 2


def test_queries_without_a_prometheus_in_a_declared_environment(make_platform: PlatformFactory) -> None:
    root = make_platform(
        config(
            "releases:\n  010-web:\n    health:\n      prometheus: [{query: up, min: 1}]\n"
            "environments:\n  staging: {context: ctx}\n"
        ),
        charts=CHARTS,
    )
    err = load_error(root, "staging")
    assert err.message == (
        "health.prometheus queries need a Prometheus, and environment 'staging' names none"
    )
    assert err.location is not None and err.location.line == 5
    assert err.hint is not None and "add environments.staging.prometheus.url" in err.hint
