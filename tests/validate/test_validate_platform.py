"""gripctl validate end to end: the webgrip example copied into a git repository, with violations added.

Real helm, real git, real yamllint and detect-secrets; no cluster (--server is not exercised here).
One validate run over the broken copy is shared by the assertions on what it reports (a run costs
dozens of helm processes); exit codes and config errors run the CLI as a user does.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from gripctl.errors import ConfigError
from gripctl.model import load_platform
from gripctl.validate import Options, Report, validate
from gripctl.validate.findings import Finding

REPO = Path(__file__).resolve().parents[2]
WEBGRIP = REPO / "examples" / "webgrip"
TEST_KEY_EXCEPTION = {
    "check": "plaintext-secrets",
    "path": "keys/test-only.agekey",
    "reason": "the example's TEST ONLY key, published on purpose so that the demo decrypts",
}

BAD_CHART = {
    "Chart.yaml": "apiVersion: v2\nname: bad-app\nversion: 0.1.0\n",
    "values.yaml": "image: nginx:latest\n",
    "templates/deployment.yaml": """apiVersion: apps/v1
kind: Deployment
metadata:
  name: bad-app
spec:
  selector:
    matchLabels: {app: bad-app}
  template:
    metadata:
      labels: {app: bad-app}
    spec:
      containers:
        - name: app
          image: {{ .Values.image }}
          securityContext:
            privileged: true
          resources:
            requests: {cpu: 10m, memory: 16Mi}
""",
    "templates/cronjob.yaml": """apiVersion: batch/v1
kind: CronJob
metadata:
  name: bad-cleanup
  annotations:
    gripctl.dev/ignore-resources: "a one-minute cleanup; sized by the namespace LimitRange"
spec:
  schedule: "*/5 * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers:
            - name: cleanup
              image: busybox
              securityContext:
                runAsNonRoot: true
                allowPrivilegeEscalation: false
                readOnlyRootFilesystem: true
""",
    "templates/widget.yaml": """apiVersion: example.dev/v1
kind: Widget
metadata:
  name: no-schema-anywhere
spec: {size: 3}
""",
}

BROKEN_CHART = {
    "Chart.yaml": "apiVersion: v2\nname: broken\nversion: 0.1.0\n",
    "values.yaml": "name: x\n",
    "templates/configmap.yaml": """apiVersion: v1
kind: ConfigMap
metadata:
  name: broken
data:
  name: {{ .Values.name | nosuchfunction }}
""",
}


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid", *args],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def write_tree(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def make_repo(dest: Path, *, exceptions: list[dict[str, str]] | None = None) -> Path:
    """The example in a fresh git repository (branch main, one commit), with the test key excepted."""
    root = dest / "platform"
    shutil.copytree(WEBGRIP, root, ignore=shutil.ignore_patterns(".gripctl", "*.dec.yaml"))
    config = root / "gripctl.yaml"
    # round-trip, so that the file keeps the example's formatting (yamllint checks it too)
    rt = YAML()
    rt.indent(mapping=2, sequence=4, offset=2)
    data = rt.load(config.read_text())
    data.setdefault("policies", {})["exceptions"] = [TEST_KEY_EXCEPTION] if exceptions is None else exceptions
    with config.open("w") as out:
        rt.dump(data, out)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "base")
    return root


def break_repo(root: Path) -> None:
    write_tree(root / "ops/helm/990-bad-app", BAD_CHART)
    write_tree(root / "ops/helm/995-broken", BROKEN_CHART)
    # a plaintext secrets file and a real-looking age private key, both committed
    (root / "ops/secrets/010-cert-manager-secrets/values.dec.yaml").write_text(
        "acmeDns:\n  token: s3cr3t-T0ken-that-was-decrypted\n"
    )
    (root / "backup").mkdir()
    (root / "backup/keys.txt").write_text(
        "# created: 2026-01-01\nAGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ\n"
    )
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "violations")
    # a chart changed since main~1 without a version bump (left uncommitted: git diff sees it too)
    configmap = root / "ops/helm/950-example-services/templates/configmap.yaml"
    configmap.write_text(configmap.read_text() + '  EXTRA: "1"\n')


def run_validate(root: Path, environment: str = "production", **options: object) -> Report:
    platform = load_platform(root, environment)
    return asyncio.run(validate([platform], None, Options(**options)))  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _no_key_no_ci(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # No age key: validate must work in a CI job that has none (placeholders, info finding).
    for var in ("SOPS_AGE_KEY", "SOPS_AGE_KEY_FILE", "SOPS_AGE_KEY_CMD", "GITHUB_ACTIONS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Report]:
    env = {k: os.environ.pop(k) for k in ("SOPS_AGE_KEY_FILE", "SOPS_AGE_KEY") if k in os.environ}
    old_xdg = os.environ.get("XDG_CONFIG_HOME")
    os.environ["XDG_CONFIG_HOME"] = str(tmp_path_factory.mktemp("xdg"))
    try:
        root = make_repo(tmp_path_factory.mktemp("broken"))
        break_repo(root)
        report = run_validate(root, base="main~1")
    finally:
        os.environ.update(env)
        if old_xdg is None:
            os.environ.pop("XDG_CONFIG_HOME", None)
        else:
            os.environ["XDG_CONFIG_HOME"] = old_xdg
    return root, report


def find(report: Report, check: str, **where: object) -> list[Finding]:
    return [
        f
        for f in report.findings
        if f.check == check and all(getattr(f, key) == value for key, value in where.items())
    ]


def test_latest_image_is_reported_on_its_template_line(broken: tuple[Path, Report]) -> None:
    _, report = broken
    [f] = find(report, "image-pinned", release="990-bad-app", kind="Deployment")
    assert f.severity == "error" and f.environment == "production"
    assert "nginx:latest" in f.message
    assert f.file == "ops/helm/990-bad-app/templates/deployment.yaml"
    assert f.line == 14  # the `image:` line of the template
    [untagged] = find(report, "image-pinned", release="990-bad-app", kind="CronJob")
    assert "'busybox'" in untagged.message


def test_missing_probes_privileged_and_limits(broken: tuple[Path, Report]) -> None:
    _, report = broken
    [probes] = find(report, "probes", release="990-bad-app", kind="Deployment")
    assert "livenessProbe or readinessProbe" in probes.message
    assert probes.severity == "error"  # the example's policies.checks sets probes: error
    assert not find(report, "probes", kind="CronJob"), "jobs need no probes"
    [sc] = find(report, "security-context", release="990-bad-app", kind="Deployment")
    assert "runs privileged" in sc.message and sc.line == 16  # `privileged: true`
    [res] = find(report, "resources", release="990-bad-app", kind="Deployment")
    assert "limits.cpu" in res.message and "limits.memory" in res.message
    assert "requests.cpu" not in res.message
    assert res.file == "ops/helm/990-bad-app/templates/deployment.yaml"


def test_annotation_suppresses_with_its_reason(broken: tuple[Path, Report]) -> None:
    _, report = broken
    [res] = find(report, "resources", release="990-bad-app", kind="CronJob")
    assert res.suppressed is not None and "LimitRange" in res.suppressed
    assert res not in report.active


def test_namespace_without_network_policy(broken: tuple[Path, Report]) -> None:
    _, report = broken
    findings = find(report, "network-policy")
    assert [(f.release, f.name) for f in findings] == [("990-bad-app", "bad-app")]
    assert findings[0].severity == "warning"


def test_unknown_kind_without_schema_is_a_warning_and_crds_validate_their_resources(
    broken: tuple[Path, Report],
) -> None:
    _, report = broken
    schema = find(report, "schema")
    [widget] = [f for f in schema if f.kind == "Widget"]
    assert widget.severity == "warning" and "no schema for Widget" in widget.message
    # ClusterIssuer and RunnerScaleSet come from CRDs other releases of the example render: validated, clean
    assert not [f for f in schema if f.kind in ("ClusterIssuer", "RunnerScaleSet")]


def test_render_failure_names_template_and_line(broken: tuple[Path, Report]) -> None:
    _, report = broken
    [f] = find(report, "render", release="995-broken")
    assert f.severity == "error"
    assert f.file == "ops/helm/995-broken/templates/configmap.yaml" and f.line == 6
    assert "nosuchfunction" in f.message
    assert find(report, "helm-lint", release="995-broken", severity="error")


def test_plaintext_secrets_tracked_by_git(broken: tuple[Path, Report]) -> None:
    _, report = broken
    dec = find(report, "plaintext-secrets", file="ops/secrets/010-cert-manager-secrets/values.dec.yaml")
    assert [f.severity for f in dec] == ["error"] and "tracked by git" in dec[0].message
    [key] = find(report, "plaintext-secrets", file="backup/keys.txt")
    assert key.severity == "error" and key.line == 2 and key.suppressed is None
    # the example's own test key is excepted with a reason: shown as suppressed, exactly that one
    [test_key] = find(report, "plaintext-secrets", file="keys/test-only.agekey")
    assert test_key.suppressed is not None and "TEST ONLY" in test_key.suppressed


def test_chart_changed_without_version_bump(broken: tuple[Path, Report]) -> None:
    _, report = broken
    # The committed values.dec.yaml sits in the 010-cert-manager-secrets chart, whose .helmignore
    # excludes *.dec.yaml: it never ships inside the chart, so only the really changed chart is reported.
    assert {f.release for f in find(report, "chart-version")} == {"950-example-services"}
    [f] = find(report, "chart-version", release="950-example-services")
    assert f.release == "950-example-services" and f.severity == "error"
    assert f.file == "ops/helm/950-example-services/Chart.yaml" and f.line is not None
    assert "templates/configmap.yaml" in f.message and "0.1.0" in f.message
    # new charts (990, 995) did not exist at the base: any version is new
    assert not find(report, "chart-version", release="990-bad-app")


def test_secrets_rendered_with_placeholders_without_a_key(broken: tuple[Path, Report]) -> None:
    _, report = broken
    notes = find(report, "secrets-decrypt")
    assert notes and all(f.severity == "info" and "placeholders" in f.message for f in notes)
    assert not find(report, "render", release="010-cert-manager-secrets")


def test_report_fails_and_sarif_is_structurally_valid(broken: tuple[Path, Report]) -> None:
    from gripctl.validate.report import to_sarif

    _, report = broken
    assert report.exit_code == 1
    sarif = to_sarif(report)
    assert sarif["version"] == "2.1.0" and sarif["$schema"].endswith("sarif-2.1.0.json")
    [run] = sarif["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "gripctl" and {r["id"] for r in driver["rules"]} >= {"image-pinned", "render"}
    assert len(run["results"]) == len(report.findings)
    for result in run["results"]:
        assert result["level"] in ("error", "warning", "note", "none")
        assert result["message"]["text"]
        assert driver["rules"][result["ruleIndex"]]["id"] == result["ruleId"]
        for loc in result.get("locations", []):
            physical = loc["physicalLocation"]
            assert not physical["artifactLocation"]["uri"].startswith("/")
            assert physical.get("region", {"startLine": 1})["startLine"] >= 1
    suppressed = [r for r in run["results"] if "suppressions" in r]
    assert len(suppressed) == len(report.findings) - len(report.active)
    assert all(s["suppressions"][0]["justification"] for s in suppressed)
    json.dumps(sarif)  # serialisable as is


def test_exception_with_reason_suppresses_exactly_one(tmp_path: Path) -> None:
    root = make_repo(
        tmp_path,
        exceptions=[
            TEST_KEY_EXCEPTION,
            {
                "check": "image-pinned",
                "release": "990-bad-app",
                "kind": "Deployment",
                "name": "bad-app",
                "reason": "upstream publishes only :latest until their 2.0; tracked in PLAT-123",
            },
        ],
    )
    write_tree(root / "ops/helm/990-bad-app", BAD_CHART)
    report = run_validate(root)
    pinned = find(report, "image-pinned", release="990-bad-app")
    assert len(pinned) == 2
    assert [f.kind for f in pinned if f.suppressed] == ["Deployment"]
    assert [f.kind for f in pinned if not f.suppressed] == ["CronJob"]
    assert "PLAT-123" in next(f.suppressed for f in pinned if f.suppressed)


def test_exception_without_reason_is_a_config_error(tmp_path: Path) -> None:
    root = make_repo(
        tmp_path,
        exceptions=[{"check": "security-context", "release": "060-grafana-stack"}],
    )
    with pytest.raises(ConfigError) as caught:
        run_validate(root)
    assert "has no reason" in caught.value.message
    assert caught.value.location is not None and caught.value.location.path == "gripctl.yaml"
    assert caught.value.location.line is not None
    assert "reason:" in (caught.value.hint or "")


def gripctl(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOPS_AGE") and k != "GITHUB_ACTIONS"}
    return subprocess.run(
        [sys.executable, "-m", "gripctl.cli.app", "--root", str(root), "validate", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_cli_exit_codes_0_1_2(tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    clean = gripctl(root, "-e", "staging")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "OK:" in clean.stdout

    write_tree(root / "ops/helm/990-bad-app", BAD_CHART)
    failing = gripctl(root, "-e", "staging", "--only", "990-bad-app", "--format", "github")
    assert failing.returncode == 1
    assert (
        "::error file=ops/helm/990-bad-app/templates/deployment.yaml,line=14,"
        "title=image-pinned 990-bad-app@staging::" in failing.stdout
    )

    config = root / "gripctl.yaml"
    config.write_text(config.read_text().replace("probes: error", "probes: sometimes"))
    before = git(root, "status", "--porcelain")
    broken = gripctl(root, "-e", "staging", "--output", "json")
    assert broken.returncode == 2
    assert "'sometimes' is not a severity" in broken.stderr and "gripctl.yaml:" in broken.stderr
    assert json.loads(broken.stdout)["error"] == "ConfigError"
    assert git(root, "status", "--porcelain") == before  # validate changes nothing, even when failing


SERVER_CHART = {
    "Chart.yaml": "apiVersion: v2\nname: app\nversion: 0.1.0\n",
    "values.yaml": "replicas: 1\n",
    "templates/configmap.yaml": """apiVersion: v1
kind: ConfigMap
metadata:
  name: app-settings
data:
  mode: server
""",
    "templates/deployment.yaml": """apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels: {app: app}
  template:
    metadata:
      labels: {app: app}
    spec:
      containers:
        - name: app
          image: registry.k8s.io/pause:3.10
""",
}


def test_server_dry_run_against_the_sandbox(tmp_path: Path, sandbox: object, namespace: str) -> None:
    from gripctl.adapters.sandbox import SandboxInfo

    assert isinstance(sandbox, SandboxInfo)
    root = tmp_path / "platform"
    write_tree(root / "ops/helm/010-app", SERVER_CHART)
    (root / "gripctl.yaml").write_text(
        "apiVersion: gripctl/v1\n"
        f"releases:\n  010-app:\n    namespace: {namespace}\n"
        f"environments:\n  sandbox:\n    context: {sandbox.context}\n    kubeconfig: {sandbox.kubeconfig}\n"
    )
    report = run_validate(root, "sandbox", server=True)
    assert not find(report, "render"), [f.message for f in find(report, "render")]
    # the objects came back from the API server's dry run and went through the same policy checks
    assert find(report, "probes", release="010-app", kind="Deployment")
    assert not find(report, "image-pinned")

    # the API server itself rejects a wrong type, and names the object; the offline schema agrees
    (root / "ops/helm/010-app/values.yaml").write_text('replicas: "many"\n')
    report = run_validate(root, "sandbox", server=True)
    [f] = find(report, "server-validate", release="010-app")
    assert f.severity == "error" and ".spec.replicas: expected numeric" in f.message
    assert (f.kind, f.name) == ("Deployment", "app")
    assert f.file == "ops/helm/010-app/templates/deployment.yaml" and f.line == 2
    assert find(report, "schema", release="010-app", kind="Deployment")
    live = subprocess.run(
        ["helm", "list", "-n", namespace, "-q", "--kube-context", sandbox.context, "--kubeconfig",
         str(sandbox.kubeconfig)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert live.stdout.strip() == "", "a dry run must not install anything"


def test_github_annotations_by_default_in_actions_and_sarif_from_the_cli(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from gripctl.cli.app import app, register_commands

    root = make_repo(tmp_path)
    write_tree(root / "ops/helm/990-bad-app", BAD_CHART)
    runner = CliRunner()
    args = ["--root", str(root), "validate", "-e", "staging", "--only", "990-bad-app"]
    register_commands(args)
    result = runner.invoke(app, args, env={"GITHUB_ACTIONS": "true"})
    assert result.exit_code == 1, result.output
    annotations = [line for line in result.output.splitlines() if line.startswith("::")]
    assert any(
        line.startswith("::error file=ops/helm/990-bad-app/templates/deployment.yaml,line=16,")
        for line in annotations
    )
    assert not any("LimitRange" in line for line in annotations), "suppressed findings are not annotated"

    result = runner.invoke(app, [*args, "--format", "sarif"], env={"GITHUB_ACTIONS": "true"})
    sarif = json.loads(result.output)
    assert sarif["version"] == "2.1.0"
    rule_ids = {r["ruleId"] for r in sarif["runs"][0]["results"]}
    assert {"image-pinned", "security-context", "resources", "probes", "network-policy"} <= rule_ids


def test_unknown_base_ref_is_a_usage_error(tmp_path: Path) -> None:
    from gripctl.errors import UsageError

    root = make_repo(tmp_path)
    with pytest.raises(UsageError) as caught:
        run_validate(root, "staging", base="no-such-branch")
    assert "--base no-such-branch: no such commit" in caught.value.message
    assert caught.value.hint is not None and "git fetch" in caught.value.hint
