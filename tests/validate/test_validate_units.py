"""The pure parts of validate: image pinning, policies, helm output parsing, schema versions, reports."""

from __future__ import annotations

from pathlib import Path

import pytest

from gripctl.errors import ConfigError
from gripctl.model.types import Environment, Platform, Release
from gripctl.validate.findings import Finding, Report, Severity
from gripctl.validate.policy import load_policies
from gripctl.validate.render import parse_lint, parse_manifest
from gripctl.validate.report import github_annotations
from gripctl.validate.schema import CrdIndex, schema_version, validate_objects
from gripctl.validate.workloads import image_pinned


@pytest.mark.parametrize(
    ("image", "pinned"),
    [
        ("nginx", False),
        ("nginx:latest", False),
        ("registry:5000/team/app", False),  # the port is not a tag
        ("registry:5000/team/app:1.2.3", True),
        ("ghcr.io/org/app:v2", True),
        ("ghcr.io/org/app@sha256:" + "a" * 64, True),
        ("", False),
    ],
)
def test_image_pinned(image: str, pinned: bool) -> None:
    assert image_pinned(image) is pinned


def platform(tmp_path: Path, raw: dict[str, object]) -> Platform:
    release = Release(id="010-app", name="app", namespace="app", chart_path=tmp_path / "chart", order=10)
    env = Environment(name="staging", context=None)
    return Platform(
        root=tmp_path,
        config_path=tmp_path / "gripctl.yaml",
        environment=env,
        environments={"staging": env},
        releases={"010-app": release},
        raw=raw,
    )


def test_policies_severity_off_and_exceptions(tmp_path: Path) -> None:
    policies = load_policies(
        platform(
            tmp_path,
            {
                "policies": {
                    "fail_on": "warning",
                    "checks": {"probes": "off", "image-scan": "error", "resources": "warning"},
                    "exceptions": [{"check": "resources", "release": "010-app", "reason": "sized by VPA"}],
                }
            },
        )
    )
    findings = [
        Finding("probes", Severity.warning, "no probes", release="010-app"),
        Finding("image-scan", Severity.info, "skipped: no scanner"),
        Finding("resources", Severity.error, "no limits", release="010-app"),
        Finding("resources", Severity.error, "no limits", release="020-other"),
    ]
    applied = policies.apply(findings)
    assert [f.check for f in applied] == ["image-scan", "resources", "resources"]
    assert applied[0].severity is Severity.info  # a skip notice stays info whatever the configured level
    assert applied[1].suppressed == "policies.exceptions: sized by VPA"
    assert applied[2].severity is Severity.warning and applied[2].suppressed is None
    report = Report(applied, policies.fail_on, ["staging"], ["010-app"])
    assert report.exit_code == 1 and report.failing == [applied[2]]


@pytest.mark.parametrize(
    ("policies", "message"),
    [
        ({"checks": {"no-such-check": "error"}}, "unknown check 'no-such-check'"),
        ({"checks": {"probes": "loud"}}, "'loud' is not a severity"),
        ({"fail_on": "off"}, "fail_on cannot be off"),
        ({"exceptions": [{"check": "probes", "release": "010-app", "reason": "  "}]}, "has no reason"),
        ({"exceptions": [{"check": "probes", "reason": "why"}]}, "neither a release nor a path"),
    ],
)
def test_policies_errors(tmp_path: Path, policies: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_policies(platform(tmp_path, {"policies": policies}))
    assert message in caught.value.message
    assert caught.value.location is not None and caught.value.location.path == "gripctl.yaml"


def test_parse_lint_maps_sections_to_releases(tmp_path: Path) -> None:
    a = Release(id="010-a", name="a", namespace="a", chart_path=tmp_path / "ops/helm/010-a", order=10)
    b = Release(id="020-b", name="b", namespace="b", chart_path=tmp_path / "ops/helm/020-b", order=20)
    output = (
        f"==> Linting {a.chart_path}\n[INFO] Chart.yaml: icon is recommended\n\n"
        f"==> Linting {b.chart_path}\n"
        '[ERROR] templates/: parse error at (b/templates/cm.yaml:7): function "x" not defined\n'
        "[WARNING] values.yaml: something odd\n\tsecond line\n"
    )
    findings = parse_lint(output, {str(a.chart_path): a, str(b.chart_path): b}, "prod", tmp_path)
    assert [(f.release, f.severity.value, f.file, f.line) for f in findings] == [
        ("020-b", "error", "ops/helm/020-b/templates/cm.yaml", 7),
        ("020-b", "warning", "ops/helm/020-b/values.yaml", None),
    ]
    assert findings[1].message == "something odd; second line"


def test_schema_uses_nearest_version_and_platform_crds(tmp_path: Path) -> None:
    assert schema_version("1.36") == ("1.36.0", None)
    picked, note = schema_version("1.99")
    assert note is not None and picked in note
    release = Release(id="010-a", name="a", namespace="a", chart_path=tmp_path, order=10)
    manifest = """---
# Source: a/templates/crd.yaml
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.dev}
spec:
  group: example.dev
  names: {kind: Widget, plural: widgets}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties: {size: {type: integer}}
---
# Source: a/templates/widget.yaml
apiVersion: example.dev/v1
kind: Widget
metadata: {name: w}
spec: {size: big}
---
# Source: a/templates/deploy.yaml
apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  selector: {matchLabels: {a: b}}
  template:
    metadata: {labels: {a: b}}
    spec:
      containers: [{name: c, image: x:1, livenesProbe: {}}]
"""
    objects = parse_manifest(manifest, release, "prod")
    assert [o.template for o in objects] == [
        tmp_path / "templates" / n for n in ("crd.yaml", "widget.yaml", "deploy.yaml")
    ]
    findings = validate_objects(objects, "1.36", CrdIndex.from_objects(objects), tmp_path)
    assert [(f.kind, f.severity.value) for f in findings] == [("Widget", "error"), ("Deployment", "error")]
    assert "spec.size" in findings[0].message and "'big' is not of type 'integer'" in findings[0].message
    assert "livenesProbe" in findings[1].message  # strict schemas catch misspelt fields


def test_github_annotations_escape_and_skip_suppressed() -> None:
    findings = [
        Finding("render", Severity.error, "bad: 100%\nsecond", release="010-a", file="a,b.yaml", line=3),
        Finding("probes", Severity.warning, "quiet", suppressed="reason"),
        Finding("image-scan", Severity.info, "skipped"),
    ]
    lines = list(github_annotations(Report(findings, Severity.error, ["prod"], ["010-a"])))
    assert lines == [
        "::error file=a%2Cb.yaml,line=3,title=render 010-a::bad: 100%25%0Asecond",
        "::notice title=image-scan::skipped",
    ]


def test_lint_chunks_keep_every_slot_busy_and_no_helm_lint_holds_more_than_the_cap() -> None:
    from gripctl.validate.runner import LINT_CHUNK, lint_chunks

    def releases(n: int) -> list[Release]:
        return [
            Release(id=f"{100 + i}-r{i}", name=f"r{i}", namespace="n", chart_path=Path(f"r{i}"), order=i)
            for i in range(n)
        ]

    for n, slots in ((1, 4), (7, 4), (100, 4), (300, 4), (300, 2)):
        members = releases(n)
        chunks = lint_chunks(members, slots)
        assert [r for c in chunks for r in c] == members  # every release once, in order
        assert max(len(c) for c in chunks) <= LINT_CHUNK
        assert len(chunks) >= min(n, slots)
    assert [len(c) for c in lint_chunks(releases(300), 4)] == [40] * 7 + [20]
    assert [len(c) for c in lint_chunks(releases(10), 4)] == [3, 3, 3, 1]
