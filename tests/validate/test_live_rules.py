"""validate's checks of drift ignore rules and Prometheus health queries: a rule naming no object is a
warning at its line; a query Prometheus cannot parse is an error at its line; an unreachable Prometheus
is a warning that says nothing was checked. Real helm renders, a real Prometheus (skipped with a reason
when the binary is absent), real closed ports."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from gripctl.model import load_platform
from gripctl.validate import Options, validate
from gripctl.validate.findings import Severity
from gripctl.validate.live_rules import prometheus_findings
from prometheus_server import free_port, needs_prometheus, prometheus_server

__all__ = ["prometheus_server"]

CHART = {
    "Chart.yaml": "apiVersion: v2\nname: web\nversion: 0.1.0\n",
    "templates/all.yaml": """
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: api
          labels: {app: api, autoscaled: "true"}
        spec:
          selector: {matchLabels: {app: api}}
          template:
            metadata: {labels: {app: api}}
            spec:
              containers: [{name: api, image: "registry.example/api:1.0"}]
        ---
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: api-config}
        data: {a: b}
    """,
}


def platform_root(tmp_path: Path, config: str) -> Path:
    root = tmp_path / "platform"
    for name, text in CHART.items():
        path = root / "ops/helm/010-web" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    (root / "ops/helm/020-api/templates").mkdir(parents=True)
    (root / "ops/helm/020-api/Chart.yaml").write_text("apiVersion: v2\nname: api\nversion: 0.1.0\n")
    (root / "gripctl.yaml").write_text(textwrap.dedent(config).lstrip("\n"))
    return root


RULES = """
apiVersion: gripctl/v1
drift:
  ignore:
    - paths: [/spec/replicas]
      target: {kind: Deployment, labels: {autoscaled: "true"}}
    - paths: [/data]
      target: {kind: Configmap}
releases:
  010-web:
    drift:
      ignore:
        - managers: [kube-controller-manager]
          target: {name: api}
        - paths: [/spec]
          target: {namespace: elsewhere}
  020-api:
    drift:
      ignore:
        - paths: [/spec]
policies:
  checks: {yamllint: off, resources: off, probes: off, security-context: off, network-policy: off}
"""


async def test_rules_that_match_nothing_are_warnings_at_their_line(tmp_path: Path) -> None:
    root = platform_root(tmp_path, RULES)
    platform = load_platform(root)
    report = await validate([platform], None, Options())
    found = [f for f in report.findings if f.check == "drift-ignore"]
    none = "drift ignore rule matches no object of"
    assert [(f.line, f.release, f.message) for f in found] == [
        (14, "010-web", f"{none} release 010-web (target: namespace=elsewhere)"),
        (19, "020-api", f"{none} release 020-api (target: any object)"),  # a chart with no objects
        (6, None, f"{none} any release (target: kind=Configmap)"),  # kinds are case-sensitive
    ]
    assert all(f.severity is Severity.warning and f.file == "gripctl.yaml" for f in found)
    assert found[0].hint is not None and "globs are case-sensitive" in found[0].hint
    assert not report.failing


async def test_global_rules_are_not_judged_on_a_partial_selection(tmp_path: Path) -> None:
    root = platform_root(tmp_path, RULES)
    platform = load_platform(root)
    report = await validate([platform], ["010-web"], Options())
    found = [(f.line, f.release) for f in report.findings if f.check == "drift-ignore"]
    assert found == [(14, "010-web")]


PROM = """
apiVersion: gripctl/v1
releases:
  010-web:
    health:
      prometheus:
        - query: 'sum(rate(http_requests_total{{namespace="${{namespace}}"}}[1m]))'
          max: 1
          name: request rate
        - {{query: 'rate(http_requests_total)', max: 1}}
environments:
  staging:
    prometheus: {{url: "{url}", timeout: 2s}}
"""


async def test_unreachable_prometheus_is_one_warning_that_says_nothing_was_checked(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    root = platform_root(tmp_path, PROM.format(url=url))
    found = await prometheus_findings([load_platform(root, "staging")], None)
    assert len(found) == 1
    finding = found[0]
    assert finding.check == "prometheus-reachable" and finding.severity is Severity.warning
    assert finding.environment == "staging"
    assert finding.message.startswith(
        f"not checked: 2 health queries of environment staging (Prometheus at {url} is unreachable: "
    )


@needs_prometheus
async def test_a_query_prometheus_cannot_parse_is_an_error_at_its_line(
    tmp_path: Path, prometheus_server: str
) -> None:
    root = platform_root(tmp_path, PROM.format(url=prometheus_server))
    platform = load_platform(root, "staging")
    found = await prometheus_findings([platform], None)
    assert len(found) == 1
    finding = found[0]
    assert finding.check == "prometheus-query" and finding.severity is Severity.error
    assert (finding.file, finding.line, finding.release) == ("gripctl.yaml", 9, "010-web")
    assert finding.message.startswith("health query 'rate(http_requests_total)' does not parse: ")
    assert "expected type range vector" in finding.message
    report = await validate([platform], None, Options())
    assert [f.line for f in report.findings if f.check == "prometheus-query"] == [9]
    assert report.failing


@pytest.mark.parametrize("selected", [["020-api"]])
async def test_unselected_releases_queries_are_not_asked(tmp_path: Path, selected: list[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    root = platform_root(tmp_path, PROM.format(url=url))
    assert await prometheus_findings([load_platform(root, "staging")], selected) == []
