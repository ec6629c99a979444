"""Drift on the sandbox: real helm v4 installs (server-side apply), real kubectl changes, real dry runs.

A small platform with every kind the example uses (Deployment, DaemonSet, Service, ConfigMap, Secret,
ServiceAccount, Role/RoleBinding, ClusterRole/ClusterRoleBinding, NetworkPolicy, a CRD with defaults
and a custom resource of it) plus an HPA is installed once per module into a fresh namespace. The
first test proves a fresh install shows no drift at all — server defaults, status, managedFields and
server-set metadata are not drift. Each later test changes one object the way an operator would and
asserts the exact JSON pointer reported for that object only, so the tests do not depend on order.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client as k8s

from gripctl.adapters import helm
from gripctl.adapters.helm import KubeTarget, Values
from gripctl.adapters.sandbox import SandboxInfo
from gripctl.adapters.toolchain import find_tool
from gripctl.model.selection import Selection
from gripctl.observe.drift import DriftState, FieldChange, ObjectDrift
from gripctl.service.drift import DriftRequest, DriftResult, ReleaseDriftStatus, drift

PASSWORD = "drift-test-password-8641"

KINDS_CHART = {
    "Chart.yaml": "apiVersion: v2\nname: kinds\nversion: 0.1.0\n",
    "templates/all.yaml": """
        apiVersion: v1
        kind: ServiceAccount
        metadata: {name: app}
        ---
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: app-config, labels: {app: web}}
        data: {greeting: hello, mode: fast}
        ---
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: doomed}
        data: {a: b}
        ---
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: opted-out
          annotations: {gripctl.dev/drift: ignore}
        data: {a: b}
        ---
        apiVersion: v1
        kind: Secret
        metadata: {name: creds}
        type: Opaque
        stringData: {password: %(password)s}
        data: {token: dG9rZW4tdmFsdWUtMTIzNDU=}
        ---
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: web
          labels: {app: web, app.kubernetes.io/part-of: drift-test}
        spec:
          replicas: 2
          selector: {matchLabels: {app: web}}
          template:
            metadata: {labels: {app: web}}
            spec:
              serviceAccountName: app
              containers:
                - name: web
                  image: registry.example/web:1.0
                  ports: [{containerPort: 8080}]
                  resources:
                    requests: {cpu: 10m, memory: 16Mi}
                    limits: {cpu: 100m, memory: 64Mi}
                  env: [{name: MODE, value: fast}]
        ---
        apiVersion: apps/v1
        kind: DaemonSet
        metadata: {name: agent}
        spec:
          selector: {matchLabels: {app: agent}}
          template:
            metadata: {labels: {app: agent}}
            spec:
              containers: [{name: agent, image: registry.example/agent:1.0}]
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: web}
        spec:
          selector: {app: web}
          ports: [{name: http, port: 80, targetPort: 8080}]
        ---
        apiVersion: rbac.authorization.k8s.io/v1
        kind: Role
        metadata: {name: reader}
        rules: [{apiGroups: [""], resources: [configmaps], verbs: [get, list]}]
        ---
        apiVersion: rbac.authorization.k8s.io/v1
        kind: RoleBinding
        metadata: {name: reader}
        roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}
        subjects: [{kind: ServiceAccount, name: app, namespace: {{ .Release.Namespace }}}]
        ---
        apiVersion: rbac.authorization.k8s.io/v1
        kind: ClusterRole
        metadata: {name: {{ .Release.Namespace }}-nodes}
        rules: [{apiGroups: [""], resources: [nodes], verbs: [get]}]
        ---
        apiVersion: rbac.authorization.k8s.io/v1
        kind: ClusterRoleBinding
        metadata: {name: {{ .Release.Namespace }}-nodes}
        roleRef:
          apiGroup: rbac.authorization.k8s.io
          kind: ClusterRole
          name: {{ .Release.Namespace }}-nodes
        subjects: [{kind: ServiceAccount, name: app, namespace: {{ .Release.Namespace }}}]
        ---
        apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata: {name: web}
        spec:
          podSelector: {matchLabels: {app: web}}
          ingress: [{ports: [{port: 8080}]}]
        ---
        apiVersion: networking.k8s.io/v1
        kind: IngressClass
        metadata: {name: {{ .Release.Namespace }}-nginx}
        spec: {controller: k8s.io/ingress-nginx}
        ---
        apiVersion: networking.k8s.io/v1
        kind: Ingress
        metadata:
          name: web
          annotations: {cert-manager.io/cluster-issuer: letsencrypt-staging}
        spec:
          ingressClassName: {{ .Release.Namespace }}-nginx
          tls: [{hosts: [web.example], secretName: web-tls}]
          rules:
            - host: web.example
              http:
                paths:
                  - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
        ---
        apiVersion: policy/v1
        kind: PodDisruptionBudget
        metadata: {name: web}
        spec:
          minAvailable: 1
          selector: {matchLabels: {app: web}}
        ---
        apiVersion: v1
        kind: ResourceQuota
        metadata: {name: runners}
        spec:
          hard: {requests.cpu: "4", requests.memory: 8Gi, limits.cpu: 8000m, pods: "20"}
    """,
}

CRD_CHART = {
    "Chart.yaml": "apiVersion: v2\nname: widgets\nversion: 0.1.0\n",
    "templates/crd.yaml": """
        apiVersion: apiextensions.k8s.io/v1
        kind: CustomResourceDefinition
        metadata: {name: widgets.{{ .Values.group }}}
        spec:
          group: {{ .Values.group }}
          scope: Namespaced
          names: {kind: Widget, plural: widgets, singular: widget}
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
                      properties:
                        size: {type: integer, default: 3}
                        color: {type: string}
        ---
        apiVersion: apiextensions.k8s.io/v1
        kind: CustomResourceDefinition
        metadata: {name: gadgets.{{ .Values.group }}}
        spec:
          group: {{ .Values.group }}
          scope: Cluster
          names: {kind: Gadget, plural: gadgets, singular: gadget}
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
                      x-kubernetes-preserve-unknown-fields: true
    """,
}

WIDGET_CHART = {
    "Chart.yaml": "apiVersion: v2\nname: widget\nversion: 0.1.0\n",
    "templates/widget.yaml": """
        apiVersion: {{ .Values.group }}/v1
        kind: Widget
        metadata: {name: blue}
        spec: {color: blue}
        ---
        apiVersion: {{ .Values.group }}/v1
        kind: Gadget
        metadata: {name: {{ .Release.Namespace }}-issuer}
        spec:
          acme:
            server: "https://acme.example/directory"
            solvers: [{http01: {ingress: {class: nginx}}}]
    """,
}

SCALED_CHART = {
    "Chart.yaml": "apiVersion: v2\nname: scaled\nversion: 0.1.0\n",
    "templates/all.yaml": """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: scaled}
        spec:
          replicas: 1
          selector: {matchLabels: {app: scaled}}
          template:
            metadata: {labels: {app: scaled}}
            spec:
              containers: [{name: app, image: registry.example/scaled:1.0}]
        ---
        apiVersion: autoscaling/v2
        kind: HorizontalPodAutoscaler
        metadata: {name: scaled}
        spec:
          scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: scaled}
          minReplicas: 3
          maxReplicas: 5
          metrics:
            - type: Resource
              resource: {name: cpu, target: {type: Utilization, averageUtilization: 80}}
    """,
}


def write_chart(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))


class Deployed:
    """The installed platform: its root, namespace, and kubectl bound to the sandbox."""

    def __init__(self, root: Path, namespace: str, sandbox: SandboxInfo, group: str) -> None:
        self.root, self.namespace, self.sandbox, self.group = root, namespace, sandbox, group

    def kubectl(self, *args: str, env: dict[str, str] | None = None) -> str:
        where = ["--kubeconfig", str(self.sandbox.kubeconfig), "--context", self.sandbox.context]
        done = subprocess.run(
            [find_tool("kubectl"), *where, "--namespace", self.namespace, *args],
            capture_output=True, text=True, env={**os.environ, **(env or {})}, check=False, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, f"kubectl {' '.join(args)} failed: {done.stderr}"
        return done.stdout

    def config(self, extra: str = "") -> None:
        (self.root / "gripctl.yaml").write_text(
            textwrap.dedent(
                f"""
                apiVersion: gripctl/v1
                releases:
                  010-kinds: {{namespace: {self.namespace}, name: kinds, create_namespace: false}}
                  020-crd: {{namespace: {self.namespace}, name: crd, create_namespace: false}}
                  030-widget: {{namespace: {self.namespace}, name: widget, create_namespace: false}}
                  040-scaled: {{namespace: {self.namespace}, name: scaled, create_namespace: false}}
                environments:
                  test:
                    context: {self.sandbox.context}
                    kubeconfig: {self.sandbox.kubeconfig}
                """
            ).lstrip("\n")
            + textwrap.dedent(extra).lstrip("\n")
        )

    async def drift(self, *only: str) -> DriftResult:
        return await drift(DriftRequest(self.root, "test", selection=Selection(only=only)))


def find(result: DriftResult, release_id: str, kind: str, name: str) -> ObjectDrift:
    release = next(r for r in result.releases if r.release_id == release_id)
    return next(o for o in release.objects if o.ref.kind == kind and o.ref.name == name)


def paths(obj: ObjectDrift) -> list[tuple[str, FieldChange]]:
    return [(f.path, f.change) for f in obj.fields]


@pytest.fixture(scope="module")
def deployed(
    sandbox: SandboxInfo, kube_api: k8s.ApiClient, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployed]:
    namespace = f"t-drift-{uuid.uuid4().hex[:6]}"
    group = f"{namespace}.drift.test"
    core = k8s.CoreV1Api(kube_api)
    core.create_namespace(
        k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=namespace, labels={"gripctl.dev/test": "1"}))
    )
    root = tmp_path_factory.mktemp("drift") / "platform"
    charts = {
        "010-kinds": KINDS_CHART,
        "020-crd": CRD_CHART,
        "030-widget": WIDGET_CHART,
        "040-scaled": SCALED_CHART,
    }
    for rid, files in charts.items():
        write_chart(
            root / "ops/helm" / rid, {k: v.replace("%(password)s", PASSWORD) for k, v in files.items()}
        )
        (root / "ops/helm" / rid / "values.yaml").write_text(f"group: {group}\n")
    platform = Deployed(root, namespace, sandbox, group)
    platform.config()
    target = KubeTarget(context=sandbox.context, kubeconfig=sandbox.kubeconfig)
    installed: list[str] = []
    try:
        for rid in charts:
            name = rid.split("-", 1)[1]
            asyncio.run(
                helm.upgrade_install_release(
                    name, root / "ops/helm" / rid, namespace, Values(), target, timeout_seconds=120,
                    create_namespace=False,
                )
            )  # fmt: skip
            installed.append(name)
            if rid == "020-crd":  # the CRDs must be served before their resources can be applied
                for crd in (f"crd/widgets.{group}", f"crd/gadgets.{group}"):
                    platform.kubectl("wait", "--for=condition=Established", crd, "--timeout=60s")
        yield platform
    finally:
        for name in reversed(installed):
            asyncio.run(helm.uninstall(name, namespace, target, timeout_seconds=60))
        core.delete_namespace(namespace, propagation_policy="Background")


@pytest.mark.parametrize("dry_run_all", [True, False], ids=["every-object-dry-run", "shortcut"])
async def test_a_fresh_install_shows_no_drift(deployed: Deployed, dry_run_all: bool) -> None:
    request = DriftRequest(
        deployed.root, "test", Selection(only=("010-kinds", "020-crd", "030-widget")), dry_run_all=dry_run_all
    )
    result = await drift(request)
    assert result.exit_code == 0, json.dumps(result.to_dict(), indent=1)
    dry_runs = [o.dry_run for r in result.releases for o in r.objects if o.state is DriftState.in_sync]
    if dry_run_all:
        assert all(dry_runs)
    else:
        # A live object holds its whole manifest unless the server normalised a value the chart wrote
        # differently (the quota's 8000m is stored as "8"); those few are dry-run.
        assert dry_runs.count(False) >= len(dry_runs) - 3, dry_runs
        needed = sorted(o.ref.kind for r in result.releases for o in r.objects if o.dry_run)
        print("dry run needed for:", needed)  # for the record: which kinds the server normalises
    kinds = sorted({(o.ref.kind, o.state) for r in result.releases for o in r.objects})
    assert kinds == [
        ("ClusterRole", DriftState.in_sync),
        ("ClusterRoleBinding", DriftState.in_sync),
        ("ConfigMap", DriftState.ignored),  # opted-out, by its annotation
        ("ConfigMap", DriftState.in_sync),
        ("CustomResourceDefinition", DriftState.in_sync),
        ("DaemonSet", DriftState.in_sync),
        ("Deployment", DriftState.in_sync),
        ("Gadget", DriftState.in_sync),
        ("Ingress", DriftState.in_sync),
        ("IngressClass", DriftState.in_sync),
        ("NetworkPolicy", DriftState.in_sync),
        ("PodDisruptionBudget", DriftState.in_sync),
        ("ResourceQuota", DriftState.in_sync),
        ("Role", DriftState.in_sync),
        ("RoleBinding", DriftState.in_sync),
        ("Secret", DriftState.in_sync),
        ("Service", DriftState.in_sync),
        ("ServiceAccount", DriftState.in_sync),
        ("Widget", DriftState.in_sync),
    ]
    assert all(r.status is ReleaseDriftStatus.in_sync for r in result.releases)
    widget = find(result, "030-widget", "Widget", "blue")
    assert widget.ref.namespace == deployed.namespace
    assert find(result, "010-kinds", "ClusterRole", f"{deployed.namespace}-nodes").ref.namespace is None


async def test_kubectl_scale_is_drift_at_spec_replicas(deployed: Deployed) -> None:
    deployed.kubectl("scale", "deployment/web", "--replicas=5")
    obj = find(await deployed.drift("010-kinds"), "010-kinds", "Deployment", "web")
    assert obj.state is DriftState.drifted
    assert paths(obj) == [("/spec/replicas", FieldChange.changed)]
    assert (obj.fields[0].live, obj.fields[0].desired) == (5, 2)
    deployed.kubectl("scale", "deployment/web", "--replicas=2")


async def test_kubectl_edit_of_an_image_is_drift_at_the_container_image(
    deployed: Deployed, tmp_path: Path
) -> None:
    # A real `kubectl edit`, with a non-interactive editor that changes the image in kubectl's temp file.
    editor = tmp_path / "editor"
    editor.write_text(
        f"#!{sys.executable}\nimport sys\np = sys.argv[-1]\ntext = open(p).read()\n"
        "open(p, 'w').write(text.replace('registry.example/agent:1.0', 'registry.example/agent:1.1'))\n"
    )
    editor.chmod(0o755)
    deployed.kubectl("edit", "daemonset/agent", env={"KUBE_EDITOR": str(editor)})
    obj = find(await deployed.drift("010-kinds"), "010-kinds", "DaemonSet", "agent")
    assert paths(obj) == [("/spec/template/spec/containers/0/image", FieldChange.changed)]
    field = obj.fields[0]
    assert (field.live, field.desired) == ("registry.example/agent:1.1", "registry.example/agent:1.0")
    assert "kubectl-edit" in field.managers


async def test_a_removed_label_is_drift_at_its_pointer(deployed: Deployed) -> None:
    deployed.kubectl("label", "deployment/web", "app.kubernetes.io/part-of-")
    obj = find(await deployed.drift("010-kinds"), "010-kinds", "Deployment", "web")
    assert ("/metadata/labels/app.kubernetes.io~1part-of", FieldChange.removed) in paths(obj)
    field = next(f for f in obj.fields if f.path == "/metadata/labels/app.kubernetes.io~1part-of")
    assert (field.live, field.desired) == (None, "drift-test")
    deployed.kubectl("label", "deployment/web", "app.kubernetes.io/part-of=drift-test")


async def test_a_deleted_object_is_drift(deployed: Deployed) -> None:
    deployed.kubectl("delete", "configmap/doomed")
    result = await deployed.drift("010-kinds")
    obj = find(result, "010-kinds", "ConfigMap", "doomed")
    assert obj.state is DriftState.deleted and obj.message == "not found in the cluster"
    assert result.exit_code == 2


async def test_a_changed_configmap_is_drift_at_its_key_and_an_ignore_rule_hides_it(
    deployed: Deployed,
) -> None:
    deployed.kubectl("patch", "configmap/app-config", "-p", '{"data":{"mode":"slow"}}')
    obj = find(await deployed.drift("010-kinds"), "010-kinds", "ConfigMap", "app-config")
    assert paths(obj) == [("/data/mode", FieldChange.changed)]
    assert (obj.fields[0].live, obj.fields[0].desired) == ("slow", "fast")

    deployed.config(
        """
        drift:
          ignore:
            - paths: [/data/mode]
              target: {kind: ConfigMap, labels: {app: web}}
              reason: tuned by hand during incidents
        """
    )
    try:
        obj = find(await deployed.drift("010-kinds"), "010-kinds", "ConfigMap", "app-config")
    finally:
        deployed.config()
    assert obj.state is DriftState.in_sync and obj.fields == ()
    assert [(i.path, i.rule) for i in obj.ignored] == [
        ("/data/mode", "drift.ignore[0] (gripctl.yaml:13): tuned by hand during incidents")
    ]


async def test_a_changed_secret_is_drift_with_its_values_masked(deployed: Deployed) -> None:
    changed = base64.b64encode(b"changed-by-hand-777").decode()
    deployed.kubectl("patch", "secret/creds", "-p", json.dumps({"data": {"password": changed}}))
    result = await deployed.drift("010-kinds")
    obj = find(result, "010-kinds", "Secret", "creds")
    assert paths(obj) == [("/data/password", FieldChange.changed)]
    assert (obj.fields[0].live, obj.fields[0].desired) == ("<secret>", "<secret>")
    document = json.dumps(result.to_dict())
    for value in (PASSWORD, "changed-by-hand-777", "token-value-12345"):
        assert value not in document
        assert base64.b64encode(value.encode()).decode() not in document


async def test_the_opt_out_annotation_skips_an_object(deployed: Deployed) -> None:
    deployed.kubectl("patch", "configmap/opted-out", "-p", '{"data":{"a":"changed"}}')
    obj = find(await deployed.drift("010-kinds"), "010-kinds", "ConfigMap", "opted-out")
    assert obj.state is DriftState.ignored and obj.message == "annotated gripctl.dev/drift: ignore"


async def test_a_custom_resource_changed_is_drift(deployed: Deployed) -> None:
    # color is set by the release: a change shows the release's value; size is not (the CRD defaults
    # it): set by hand it is a field the release leaves alone, reported as added by its field manager.
    patch = '{"spec":{"color":"green","size":7}}'
    deployed.kubectl("patch", f"widgets.{deployed.group}/blue", "--type=merge", "-p", patch)
    obj = find(await deployed.drift("030-widget"), "030-widget", "Widget", "blue")
    assert [(f.path, f.change, f.live, f.desired, f.managers) for f in obj.fields] == [
        ("/spec/color", FieldChange.changed, "green", "blue", ("kubectl-patch",)),
        ("/spec/size", FieldChange.added, 7, None, ("kubectl-patch",)),
    ]


async def test_a_kind_spread_over_namespaces_is_read_with_one_list(
    deployed: Deployed, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cluster-wide LIST by helm's managed-by label: an object whose label was removed by hand is
    still found (asked for by name), and a deleted one is still deleted."""
    import gripctl.observe.drift as observe_drift

    monkeypatch.setattr(observe_drift, "_LIST_EVERYWHERE", 1)
    deployed.kubectl("label", "serviceaccount/app", "app.kubernetes.io/managed-by-")
    result = await deployed.drift("010-kinds")
    account = find(result, "010-kinds", "ServiceAccount", "app")
    assert account.state is DriftState.in_sync  # helm's own label is helm's bookkeeping, not the release's
    assert find(result, "010-kinds", "Role", "reader").state is DriftState.in_sync


def wait_for_replicas(deployed: Deployed, name: str, replicas: int) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if deployed.kubectl("get", f"deployment/{name}", "-o", "jsonpath={.spec.replicas}").strip() == str(
            replicas
        ):
            return
        time.sleep(1)
    pytest.fail(f"the HPA did not scale deployment/{name} to {replicas} within 90s")


async def test_an_hpa_owned_replica_count_is_ignored_by_a_manager_rule(deployed: Deployed) -> None:
    wait_for_replicas(deployed, "scaled", 3)  # the HPA's minReplicas, over the chart's 1
    obj = find(await deployed.drift("040-scaled"), "040-scaled", "Deployment", "scaled")
    assert paths(obj) == [("/spec/replicas", FieldChange.changed)]
    assert obj.fields[0].managers == ("kube-controller-manager",)
    hpa = find(await deployed.drift("040-scaled"), "040-scaled", "HorizontalPodAutoscaler", "scaled")
    assert hpa.state is DriftState.in_sync  # its defaulted `behavior` and its status are not drift

    deployed.config(
        """
        drift:
          ignore:
            - managers: [kube-controller-manager]
              reason: replica counts belong to the autoscalers
        """
    )
    try:
        result = await deployed.drift("040-scaled")
    finally:
        deployed.config()
    obj = find(result, "040-scaled", "Deployment", "scaled")
    assert obj.state is DriftState.in_sync
    assert [i.path for i in obj.ignored] == ["/spec/replicas"]
    assert result.exit_code == 0


def test_the_cli_prints_paths_and_exits_2_on_drift(deployed: Deployed) -> None:
    deployed.kubectl("annotate", "service/web", "example.com/owner=someone-else")  # set by hand
    deployed.kubectl(
        "patch", "service/web", "-p", '{"spec":{"ports":[{"name":"http","port":80,"targetPort":9090}]}}'
    )
    env = {**os.environ, "COLUMNS": "200", "GRIPCTL_TOOLCHAIN_BIN": str(Path(find_tool("helm")).parent)}
    cli = [sys.executable, "-m", "gripctl.cli.app", "-C", str(deployed.root)]
    args = ["drift", "-e", "test", "--only", "010-kinds"]
    text = subprocess.run([*cli, *args], capture_output=True, text=True, env=env, check=False)
    assert text.returncode == 2, text.stderr
    assert f"Service {deployed.namespace}/web" in text.stdout
    assert (
        "~ /spec/ports/0/targetPort  live 9090, release 8080  (field owned by kubectl-patch)" in text.stdout
    )
    added = "+ /metadata/annotations/example.com~1owner  only live 'someone-else'"
    assert f"{added}  (field owned by kubectl-annotate)" in text.stdout
    as_json = subprocess.run(
        [*cli, "-o", "json", *args], capture_output=True, text=True, env=env, check=False
    )
    assert as_json.returncode == 2
    document = json.loads(as_json.stdout)
    service = next(o for r in document["releases"] for o in r["objects"] if o["kind"] == "Service")
    assert [f["path"] for f in service["fields"]] == [
        "/metadata/annotations/example.com~1owner",
        "/spec/ports/0/targetPort",
    ]
    assert PASSWORD not in as_json.stdout + text.stdout


def test_the_cli_exits_1_on_a_broken_config(deployed: Deployed, tmp_path: Path) -> None:
    root = tmp_path / "broken"
    root.mkdir()
    (root / "gripctl.yaml").write_text("apiVersion: gripctl/v1\ndrift:\n  ignore:\n    - paths: [spec]\n")
    before = (root / "gripctl.yaml").read_text()
    env = {**os.environ, "COLUMNS": "300"}
    done = subprocess.run(
        [sys.executable, "-m", "gripctl.cli.app", "-C", str(root), "drift"],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert "gripctl.yaml:4:15 (drift.ignore[0].paths[0]): a JSON pointer starts with '/'" in done.stderr
    assert (root / "gripctl.yaml").read_text() == before
