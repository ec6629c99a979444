"""The sandbox is a real cluster: helm installs, Deployments roll out, rollbacks restore, CRDs work, and
the failure-injection label keeps pods from becoming Ready."""

from __future__ import annotations

from pathlib import Path

from kubernetes import client as k8s
from sandbox_helpers import DEPLOYMENT_CHART, pod_ready, rollout_complete, watch_until, write_chart

from gripctl.adapters import helm
from gripctl.adapters.helm import KubeTarget, Values


async def test_helm_install_rolls_out_a_deployment(
    tmp_path: Path, kube_target: KubeTarget, kube_api: k8s.ApiClient, namespace: str
) -> None:
    chart = write_chart(tmp_path / "web", DEPLOYMENT_CHART)
    await helm.upgrade_install_release("web", chart, namespace, Values(), kube_target, timeout_seconds=60)

    apps, core = k8s.AppsV1Api(kube_api), k8s.CoreV1Api(kube_api)
    done = watch_until(
        apps.list_namespaced_deployment,
        namespace,
        field_selector="metadata.name=web",
        predicate=rollout_complete,
        timeout=60,
    )
    last = apps.read_namespaced_deployment("web", namespace).status
    assert done is not None, f"deployment web never completed its rollout: {last}"
    assert done.status.available_replicas == 2
    pods = core.list_namespaced_pod(namespace, label_selector="app=web").items
    assert len(pods) == 2
    assert all(p.status.phase == "Running" and pod_ready(p) and p.spec.node_name for p in pods)
    assert {p.spec.node_name for p in pods} <= {n.metadata.name for n in core.list_node().items}


async def test_never_ready_label_keeps_the_rollout_incomplete(
    tmp_path: Path, kube_target: KubeTarget, kube_api: k8s.ApiClient, namespace: str
) -> None:
    chart = write_chart(tmp_path / "web", DEPLOYMENT_CHART)
    values = Values(stdin_yaml=b"replicas: 1\npodLabels:\n  gripctl.dev/inject: never-ready\n")
    await helm.upgrade_install_release("stuck", chart, namespace, values, kube_target, timeout_seconds=60)

    core, apps = k8s.CoreV1Api(kube_api), k8s.AppsV1Api(kube_api)
    running = watch_until(
        core.list_namespaced_pod,
        namespace,
        label_selector="app=stuck",
        predicate=lambda p: p.status.phase == "Running",
        timeout=60,
    )
    assert running is not None, "the never-ready pod was not even started"
    assert not pod_ready(running)
    assert all(not c.ready and c.state.running for c in running.status.container_statuses)
    # Give kwok ample time to (wrongly) make it Ready: the watch must time out without seeing that.
    assert (
        watch_until(
            core.list_namespaced_pod, namespace, label_selector="app=stuck", predicate=pod_ready, timeout=6
        )
        is None
    )
    dep = apps.read_namespaced_deployment("stuck", namespace)
    assert not rollout_complete(dep)
    assert not dep.status.available_replicas


async def test_helm_rollback_restores_the_previous_revision(
    tmp_path: Path, kube_target: KubeTarget, kube_api: k8s.ApiClient, namespace: str
) -> None:
    chart = write_chart(tmp_path / "web", DEPLOYMENT_CHART)
    apps = k8s.AppsV1Api(kube_api)

    def image() -> str:
        return str(apps.read_namespaced_deployment("web", namespace).spec.template.spec.containers[0].image)

    await helm.upgrade_install_release(
        "web", chart, namespace, Values(set_values={"tag": "1.0"}), kube_target, timeout_seconds=60
    )
    await helm.upgrade_install_release(
        "web", chart, namespace, Values(set_values={"tag": "2.0"}), kube_target, timeout_seconds=60
    )
    assert image() == "registry.example/web:2.0"

    await helm.rollback("web", namespace, kube_target, timeout_seconds=60)

    assert image() == "registry.example/web:1.0"
    rolled = watch_until(
        apps.list_namespaced_deployment,
        namespace,
        field_selector="metadata.name=web",
        predicate=rollout_complete,
        timeout=60,
    )
    assert rolled is not None
    assert rolled.spec.template.spec.containers[0].image == "registry.example/web:1.0"
    history = await helm.history("web", namespace, kube_target)
    assert [(h.revision, h.status) for h in history] == [
        (1, "superseded"),
        (2, "superseded"),
        (3, "deployed"),
    ]


CRD_CHART = {
    "Chart.yaml": """
        apiVersion: v2
        name: widget-crd
        version: 0.1.0
    """,
    "crds/widgets.yaml": """
        apiVersion: apiextensions.k8s.io/v1
        kind: CustomResourceDefinition
        metadata:
          name: widgets.sandbox.gripctl.dev
        spec:
          group: sandbox.gripctl.dev
          scope: Namespaced
          names: {plural: widgets, singular: widget, kind: Widget}
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
                      size: {type: integer}
    """,
}

CR_CHART = {
    "Chart.yaml": """
        apiVersion: v2
        name: widget
        version: 0.1.0
    """,
    "templates/widget.yaml": """
        apiVersion: sandbox.gripctl.dev/v1
        kind: Widget
        metadata:
          name: {{ .Release.Name }}
        spec:
          size: 3
    """,
}


async def test_crd_from_one_chart_serves_another_charts_resource(
    tmp_path: Path, kube_target: KubeTarget, kube_api: k8s.ApiClient, namespace: str
) -> None:
    crd_chart = write_chart(tmp_path / "crd", CRD_CHART)
    cr_chart = write_chart(tmp_path / "cr", CR_CHART)
    # The CRD is cluster-scoped and may survive from an earlier run; helm skips existing CRDs (crds/).
    await helm.upgrade_install_release(
        "widget-crd", crd_chart, namespace, Values(), kube_target, timeout_seconds=60
    )
    await helm.upgrade_install_release(
        "big-widget", cr_chart, namespace, Values(), kube_target, timeout_seconds=60
    )

    widget = k8s.CustomObjectsApi(kube_api).get_namespaced_custom_object(
        "sandbox.gripctl.dev", "v1", namespace, "widgets", "big-widget"
    )
    assert widget["spec"] == {"size": 3}
    assert widget["metadata"]["annotations"]["meta.helm.sh/release-name"] == "big-widget"
