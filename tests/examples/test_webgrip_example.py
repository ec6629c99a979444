"""The example platform examples/webgrip: a real, deployable platform repository, checked offline.

Every chart is linted and rendered by the real helm with each environment's values layered as
docs/config.md says (chart < environment < per-release environment < decrypted secrets on stdin),
and the rendered objects are held to the platform's rules. The SOPS files are checked with the real
sops and the committed TEST ONLY age key. No cluster is needed.
"""

from __future__ import annotations

import re
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from webgrip_helpers import (
    CLUSTER_SCOPED_KINDS,
    ENVIRONMENTS,
    WEBGRIP,
    WORKLOAD_KINDS,
    Chart,
    charts,
    decrypt,
    documents,
    helm_lint,
    helm_template,
    images,
    known_test_values,
    platform_file,
    pod_templates,
    public_key,
    secret_data,
)

from gripctl.adapters.process import run

CHARTS = charts()
RELEASES = [c for c in CHARTS if c.secrets_for is None]
SECRETS = [c for c in CHARTS if c.secrets_for is not None]
BY_ID = {c.id: c for c in CHARTS}
# (chart id, environment) -> the objects `helm template` renders
Rendered = dict[tuple[str, str], list[dict[str, Any]]]
CASES = [(c, env) for c in CHARTS for env in ENVIRONMENTS]

EXPECTED_NEEDS = {
    "005-tainters": set(),
    "007-cluster-monitoring": {"005-tainters"},
    "010-cert-manager": {"007-cluster-monitoring"},
    "020-cluster-issuers": {"010-cert-manager"},
    "030-ingress-controllers": {"020-cluster-issuers"},
    "040-gha-runners-controller": {"030-ingress-controllers"},
    "045-gha-runners": {"040-gha-runners-controller"},
    "060-grafana-stack": {"007-cluster-monitoring"},
    "950-example-services": {"030-ingress-controllers", "060-grafana-stack"},
}


def _case_id(case: tuple[Chart, str]) -> str:
    return f"{case[0].id}-{case[1]}"


@pytest.fixture(scope="module")
def rendered() -> Rendered:
    """Every chart rendered once per environment (two helm processes at a time: the CPUs are shared)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda case: helm_template(*case), CASES))
    out: Rendered = {}
    for (chart, env), result in zip(CASES, results, strict=True):
        assert result.ok, f"helm template {chart.id} ({env}) failed:\n{result.stderr}"
        out[(chart.id, env)] = documents(result.stdout)
    return out


def _objects(rendered: Rendered, env: str) -> list[tuple[Chart, Any]]:
    return [(BY_ID[cid], doc) for (cid, e), docs in rendered.items() if e == env for doc in docs]


# --- gripctl.yaml -----------------------------------------------------------------------------------


def test_platform_has_the_nine_releases_and_three_secrets_releases() -> None:
    assert [c.id for c in RELEASES] == sorted(EXPECTED_NEEDS)
    assert {c.id for c in SECRETS} == {
        "010-cert-manager-secrets",
        "060-grafana-stack-secrets",
        "950-example-services-secrets",
    }
    for chart in CHARTS:
        meta = yaml.safe_load((chart.path / "Chart.yaml").read_text())
        assert meta["apiVersion"] == "v2", chart.id
        assert "dependencies" not in meta, f"{chart.id}: the example's charts must be self-contained"
        assert re.fullmatch(r"\d+\.\d+\.\d+", meta["version"]), chart.id


def test_gripctl_yaml_declares_needs_environments_and_approvals() -> None:
    platform = platform_file()
    assert platform["apiVersion"] == "gripctl/v1"
    releases = platform["releases"]
    assert set(releases) == set(EXPECTED_NEEDS), "every ops/helm release, and only those, is configured"
    needs = {rid: set(spec.get("needs", [])) for rid, spec in releases.items()}
    assert needs == EXPECTED_NEEDS
    list(TopologicalSorter(needs).static_order())  # raises CycleError on a cycle
    roots = {rid for rid, n in needs.items() if not n}
    leaves = set(needs) - {dep for n in needs.values() for dep in n}
    assert roots == {"005-tainters"} and leaves == {"045-gha-runners", "950-example-services"}
    assert {spec["labels"]["tier"] for spec in releases.values()} >= {"core", "apps"}

    envs = platform["environments"]
    assert set(envs) == set(ENVIRONMENTS)
    # two clusters, so that production never overwrites staging: `gripctl sandbox up [--name production]`
    assert envs["staging"]["context"] == "gripctl-sandbox"
    assert envs["production"]["context"] == "gripctl-sandbox-production"
    assert envs["staging"]["deploy"] == "auto" and envs["production"]["deploy"] == "manual"
    assert envs["production"]["promote_from"] == "staging"
    assert envs["staging"]["approval"] == "none" and envs["staging"]["monitor"] == "0s"
    assert envs["production"]["approval"] == "required" and envs["production"]["approvers"]
    assert envs["production"]["monitor"] == "10s"
    for env in envs.values():
        for f in env["values"]:
            assert (WEBGRIP / f).is_file(), f
    for f in (WEBGRIP / "envs").glob("*/*.yaml"):
        assert f.stem == "values" or f.stem in BY_ID, f"{f}: not named after a release id"


def test_a_cycle_added_to_the_example_is_refused_by_gripctl(tmp_path: Path) -> None:
    """The example's graph is checked by gripctl itself: give 005-tainters a need on the last release and
    every command refuses the platform, naming the cycle and the line that closes it."""
    import shutil
    import subprocess
    import sys

    copy = tmp_path / "webgrip"
    shutil.copytree(WEBGRIP, copy, ignore=shutil.ignore_patterns(".gripctl"))
    config = copy / "gripctl.yaml"
    text = config.read_text()
    config.write_text(
        text.replace("  005-tainters:\n", "  005-tainters:\n    needs: [950-example-services]\n", 1)
    )
    line = config.read_text().splitlines().index("    needs: [950-example-services]") + 1
    before = config.read_bytes()
    result = subprocess.run(
        [sys.executable, "-m", "gripctl.cli.app", "-C", str(copy), "graph"], capture_output=True, text=True
    )
    assert result.returncode == 2, result.stderr
    assert "cycle" in result.stderr and "005-tainters" in result.stderr, result.stderr
    assert f"gripctl.yaml:{line}" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert config.read_bytes() == before and not (copy / ".gripctl").exists()


# --- helm lint and template --------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_helm_lint_strict_passes_with_layered_values(case: tuple[Chart, str]) -> None:
    chart, env = case
    result = helm_lint(chart, env)
    assert result.ok, f"helm lint {chart.id} ({env}):\n{result.stdout}\n{result.stderr}"
    assert "1 chart(s) linted, 0 chart(s) failed" in result.stdout


def test_secrets_charts_refuse_to_render_without_the_decrypted_values() -> None:
    """A secrets release deployed without its decrypted values must fail loudly, not ship empty Secrets."""
    for chart in SECRETS:
        result = helm_template(chart, "staging", with_secrets=False)
        assert not result.ok, chart.id
        assert "is empty: pass the decrypted values.sops.yaml" in result.stderr, result.stderr


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_workloads_have_probes_resources_and_a_locked_down_security_context(
    rendered: Rendered, env: str
) -> None:
    workloads = [(c, d) for c, d in _objects(rendered, env) if d["kind"] in WORKLOAD_KINDS]
    assert {c.id for c, _ in workloads} == {
        c.id for c in RELEASES if c.id not in {"020-cluster-issuers", "045-gha-runners"}
    }
    assert any(d["kind"] == "DaemonSet" for _, d in workloads)
    for chart, doc in workloads:
        where = f"{chart.id} {doc['kind']}/{doc['metadata']['name']} ({env})"
        pod = doc["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, where
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", where
        assert pod.get("serviceAccountName"), where
        for container in pod["containers"]:
            at = f"{where} container {container['name']}"
            assert container["livenessProbe"] and container["readinessProbe"], at
            for kind in ("requests", "limits"):
                assert set(container["resources"][kind]) >= {"cpu", "memory"}, at
            sc = container["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, at
            assert sc["readOnlyRootFilesystem"] is True, at
            assert sc["capabilities"]["drop"] == ["ALL"], at


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_image_is_pinned(rendered: Rendered, env: str) -> None:
    refs = [(c.id, ref) for c, d in _objects(rendered, env) for ref in images(d)]
    assert len(refs) >= 9
    for chart_id, ref in refs:
        name, _, tag = ref.rpartition(":")
        assert "@sha256:" in ref or (name and "/" not in tag and tag != "latest"), f"{chart_id}: {ref}"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_namespace_that_runs_pods_has_a_network_policy_selecting_them(
    rendered: Rendered, env: str
) -> None:
    objects = _objects(rendered, env)
    policies: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for _, doc in objects:
        if doc["kind"] == "NetworkPolicy":
            policies[doc["metadata"]["namespace"]].append(doc)
    pods = [
        (chart, doc, template)
        for chart, doc in objects
        for template in pod_templates(doc)
        if doc["kind"] in WORKLOAD_KINDS or doc["kind"] == "RunnerScaleSet"
    ]
    assert {chart.namespace for chart, _, _ in pods} >= {"gha-runners", "tainters", "example-services"}
    for chart, doc, template in pods:
        labels = template["metadata"]["labels"]
        selecting = [
            p
            for p in policies[chart.namespace]
            if all(labels.get(k) == v for k, v in p["spec"]["podSelector"].get("matchLabels", {}).items())
        ]
        assert selecting, (
            f"{chart.id} {doc['kind']}/{doc['metadata']['name']}: no NetworkPolicy selects its pods"
        )
        assert all(set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"} for p in selecting)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_objects_live_in_their_release_namespace_and_no_chart_templates_a_namespace(
    rendered: Rendered, env: str
) -> None:
    for chart, doc in _objects(rendered, env):
        where = f"{chart.id} {doc['kind']}/{doc['metadata']['name']}"
        # helm --create-namespace creates the release namespace; templating it too would conflict.
        assert doc["kind"] != "Namespace", where
        if doc["kind"] in CLUSTER_SCOPED_KINDS:
            assert "namespace" not in doc["metadata"], where
        else:
            assert doc["metadata"]["namespace"] == chart.namespace, where


def _json_schema(openapi: dict[str, Any], *, root: bool = True) -> dict[str, Any]:
    """A CRD's openAPIV3Schema as JSON Schema; objects with declared properties are closed, because the
    API server prunes unknown fields silently and a typo would vanish instead of failing."""
    out: dict[str, Any] = {k: v for k, v in openapi.items() if not k.startswith("x-kubernetes-")}
    if "properties" in out:
        out["properties"] = {k: _json_schema(v, root=False) for k, v in out["properties"].items()}
        if not root and not openapi.get("x-kubernetes-preserve-unknown-fields"):
            out["additionalProperties"] = False
    if isinstance(out.get("items"), dict):
        out["items"] = _json_schema(out["items"], root=False)
    return out


@pytest.mark.parametrize(
    ("provider", "consumer", "kind"),
    [
        ("010-cert-manager", "020-cluster-issuers", "ClusterIssuer"),
        ("040-gha-runners-controller", "045-gha-runners", "RunnerScaleSet"),
    ],
)
@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_custom_resources_match_the_crd_their_needed_release_installs(
    rendered: Rendered, env: str, provider: str, consumer: str, kind: str
) -> None:
    crds = [d for d in rendered[(provider, env)] if d["kind"] == "CustomResourceDefinition"]
    crd = next(d for d in crds if d["spec"]["names"]["kind"] == kind)
    resources = [d for d in rendered[(consumer, env)] if d["kind"] == kind]
    assert resources, f"{consumer} renders no {kind}"
    assert provider in platform_file()["releases"][consumer]["needs"]
    for version in crd["spec"]["versions"]:
        schema = _json_schema(version["schema"]["openAPIV3Schema"])
        for resource in resources:
            if resource["apiVersion"] == f"{crd['spec']['group']}/{version['name']}":
                jsonschema.validate(resource, schema)
    bad = {**resources[0], "spec": {**resources[0]["spec"], "mispelled": 1}}
    served = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    with pytest.raises(jsonschema.ValidationError, match="mispelled"):  # the check bites on a typo
        jsonschema.validate(bad, _json_schema(served))


def _one(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return next(d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name)


def test_environments_differ_like_a_real_platform(rendered: Rendered) -> None:
    for chart, doc in _objects(rendered, "staging"):
        if doc["kind"] == "Deployment":
            assert doc["spec"]["replicas"] == 1, (
                f"{chart.id} {doc['metadata']['name']}: staging runs one replica"
            )
    prod = rendered[("950-example-services", "production")]
    staging = rendered[("950-example-services", "staging")]
    assert _one(prod, "Deployment", "hello")["spec"]["replicas"] == 3
    hosts = {
        env: [r["host"] for r in _one(docs, "Ingress", "hello")["spec"]["rules"]]
        for env, docs in (("production", prod), ("staging", staging))
    }
    assert hosts == {
        "production": ["app.webgrip.example", "www.webgrip.example"],
        "staging": ["app.staging.webgrip.example"],
    }
    assert any(d["kind"] == "PodDisruptionBudget" for d in prod)
    assert not any(d["kind"] == "PodDisruptionBudget" for d in staging)
    hello = _one(prod, "Deployment", "hello")["spec"]["template"]["spec"]["containers"][0]
    assert hello["resources"]["requests"]["cpu"] == "100m"
    ingress = rendered[("030-ingress-controllers", "production")]
    assert _one(ingress, "Service", "ingress-nginx")["spec"]["type"] == "NodePort"
    grafana = rendered[("060-grafana-stack", "production")]
    assert _one(grafana, "Deployment", "grafana")["spec"]["replicas"] == 2
    issuers = rendered[("020-cluster-issuers", "production")]
    defaults = [
        d["metadata"]["name"] for d in issuers if d["metadata"]["labels"].get("webgrip.dev/default-issuer")
    ]
    assert defaults == ["letsencrypt-production"]


# --- secrets ----------------------------------------------------------------------------------------


def test_every_sops_file_is_encrypted_to_the_test_key_and_holds_no_plaintext() -> None:
    known = known_test_values()
    assert len(known) >= 4
    recipient = public_key()
    files = sorted(WEBGRIP.glob("ops/secrets/*/values.sops.yaml"))
    assert [f.parent.name for f in files] == sorted(c.id for c in SECRETS)
    for path in files:
        text = path.read_text()
        data = yaml.safe_load(text)
        assert [a["recipient"] for a in data["sops"]["age"]] == [recipient], path
        assert data["sops"]["mac"].startswith("ENC["), path
        for value in known.values():
            assert value not in text, f"{path} holds the plaintext of a known test value"
        assert "TESTVALUE" not in text, path


def test_every_sops_file_decrypts_with_the_test_key_to_the_known_values() -> None:
    known = known_test_values()
    decrypted: dict[str, str] = {}
    for chart in SECRETS:
        assert chart.sops_file is not None
        plain = yaml.safe_load(decrypt(chart.sops_file))
        rel = chart.sops_file.relative_to(WEBGRIP).as_posix()
        for key in (k for k, _ in known.items() if k.startswith(f"{rel}:")):
            node: Any = plain
            for part in key.split(":", 1)[1].split("."):
                node = node[part]
            decrypted[key] = node
    assert decrypted == known


def test_decryption_fails_without_the_key(tmp_path: Path) -> None:
    empty_key_dir = tmp_path / "no-key"
    empty_key_dir.mkdir()
    path = next(c.sops_file for c in SECRETS if c.sops_file is not None)
    result = run(
        "sops",
        ["--decrypt", str(path)],
        env={"SOPS_AGE_KEY_FILE": str(empty_key_dir / "absent.agekey"), "XDG_CONFIG_HOME": str(tmp_path)},
        check=False,
    )
    assert not result.ok
    assert "TESTVALUE" not in result.stdout + result.stderr


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_secrets_releases_create_exactly_the_secrets_their_release_reads(
    rendered: Rendered, env: str
) -> None:
    known = set(known_test_values().values())
    for chart in SECRETS:
        assert chart.secrets_for is not None
        docs = rendered[(chart.id, env)]
        secrets = {d["metadata"]["name"]: secret_data(d) for d in docs if d["kind"] == "Secret"}
        assert secrets, chart.id
        assert known & {v for data in secrets.values() for v in data.values()}, chart.id
        served = rendered[(chart.secrets_for, env)]
        refs = [
            env_var["valueFrom"]["secretKeyRef"]
            for doc in served
            if doc["kind"] in WORKLOAD_KINDS
            for container in doc["spec"]["template"]["spec"]["containers"]
            for env_var in container.get("env", [])
            if "secretKeyRef" in env_var.get("valueFrom", {})
        ]
        assert refs, f"{chart.secrets_for} reads none of the secrets {chart.id} creates"
        for ref in refs:
            assert ref["key"] in secrets.get(ref["name"], {}), f"{chart.secrets_for}: {ref} not in {chart.id}"


def test_no_release_but_a_secrets_release_renders_a_secret_value(
    rendered: Rendered,
) -> None:
    known = known_test_values().values()
    for (chart_id, env), docs in rendered.items():
        if BY_ID[chart_id].secrets_for is None:
            text = yaml.safe_dump_all(docs)
            leaked = [v for v in known if v in text]
            assert not leaked, f"{chart_id} ({env}) renders {leaked}"


def test_plain_helm_script_installs_in_an_order_that_respects_needs() -> None:
    """scripts/plain-helm.sh keeps its own list; it must stay a topological order of gripctl.yaml."""
    script = (WEBGRIP / "scripts" / "plain-helm.sh").read_text()
    block = re.search(r"^order=\(\n(.*?)^\)", script, flags=re.MULTILINE | re.DOTALL)
    assert block, "plain-helm.sh: no order=( ... ) block"
    order = block.group(1).split()
    assert sorted(order) == sorted(EXPECTED_NEEDS)
    for position, release_id in enumerate(order):
        for needed in EXPECTED_NEEDS[release_id]:
            assert order.index(needed) < position, f"{release_id} comes before {needed}"
    overrides = dict(re.findall(r"\[(\d+-[\w-]+)\]=([\w-]+)", script))
    configured = {
        rid: spec["namespace"] for rid, spec in platform_file()["releases"].items() if "namespace" in spec
    }
    assert overrides == configured
