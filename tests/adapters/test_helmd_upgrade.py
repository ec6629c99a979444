"""gripctl-helmd's `upgrade` is `helm upgrade --install` with gripctl's flags: on the sandbox, the same
install, upgrade and failed upgrade run once by the helm binary and once by the helper, in two namespaces,
leave the same release records (helm's storage Secrets, decoded: manifest, values, chart, status,
description, apply method, hooks), print the same record, apply the same objects with the same field
manager, and fail with the same message. A cancelled upgrade is recorded as failed by both, as SIGTERM
makes `helm` do, never left pending."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import kubernetes.client as k8s
import pytest
from helmd_helpers import require_helper

from gripctl.adapters import helm, helm_storage, helmd
from gripctl.adapters.helm import KubeTarget, Values
from gripctl.adapters.kube import Kube
from gripctl.errors import ToolError

CHART = {
    "Chart.yaml": "apiVersion: v2\nname: applied\nversion: 1.2.0\nappVersion: '4.5'\n",
    "values.yaml": "greeting: hello\nreplicas: 1\nextra: {}\nhook: false\n",
    "crds/widget.yaml": (
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"
        "metadata:\n  name: widgets{{SUFFIX}}.gripctl.dev\n"
        "spec:\n  group: gripctl.dev\n  scope: Namespaced\n"
        "  names: {plural: widgets{{SUFFIX}}, singular: widget{{SUFFIX}}, kind: Widget{{SUFFIX}}}\n"
        "  versions:\n  - name: v1\n    served: true\n    storage: true\n"
        "    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}\n"
    ),
    "templates/cm.yaml": (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n"
        "data:\n  greeting: {{ .Values.greeting | quote }}\n  token: {{ .Values.token | quote }}\n"
        "  revision: {{ .Release.Revision | quote }}\n  upgrade: {{ .Release.IsUpgrade | quote }}\n"
        '  widgets: {{ .Capabilities.APIVersions.Has "gripctl.dev/v1" | quote }}\n'
        "{{- range $k, $v := .Values.extra }}\n  {{ $k }}: {{ $v | quote }}\n{{- end }}\n"
    ),
    "templates/svc.yaml": (
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {{ .Release.Name }}\n"
        "spec:\n  clusterIP: None\n  selector: {app: {{ .Release.Name }}}\n"
        "  ports: [{port: {{ .Values.port | default 80 }}}]\n"
    ),
    "templates/hook.yaml": (
        "{{- if .Values.hook }}\napiVersion: v1\nkind: Pod\nmetadata:\n  name: {{ .Release.Name }}-hook\n"
        "  annotations: {helm.sh/hook: post-upgrade}\n"
        "spec:\n  restartPolicy: Never\n"
        "  nodeSelector: {gripctl.dev/no-such-node: 'true'}  # never scheduled: helm waits on it\n"
        "  containers: [{name: c, image: busybox:1.36}]\n{{- end }}\n"
    ),
    "templates/NOTES.txt": "{{ .Release.Name }} is at revision {{ .Release.Revision }}.\n",
}

Upgrade = Callable[..., Awaitable[dict[str, Any]]]
TOOLS: dict[str, Upgrade] = {"helm": helm.upgrade_install_release, "helmd": helmd.upgrade_install_release}


def write_chart(root: Path, suffix: str) -> Path:
    for rel, text in CHART.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text.replace("{{SUFFIX}}", suffix))
    return root


@pytest.fixture
def second_namespace(kube_api: k8s.ApiClient, namespace: str) -> Iterator[str]:
    """A namespace beside `namespace`, with its `default` ServiceAccount (the hook pod needs it)."""
    core = k8s.CoreV1Api(kube_api)
    name = f"{namespace[:50]}-b"
    core.create_namespace(
        k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name, labels={"gripctl.dev/test": "1"}))
    )
    try:
        deadline = time.monotonic() + 30
        while not core.list_namespaced_service_account(name, field_selector="metadata.name=default").items:
            assert time.monotonic() < deadline, f"namespace {name}: no `default` ServiceAccount after 30s"
            time.sleep(0.2)
        yield name
    finally:
        core.delete_namespace(name, propagation_policy="Background")


@pytest.fixture
def chart(tmp_path: Path, kube_api: k8s.ApiClient) -> Iterator[Path]:
    """The test chart, with a CRD of its own (helm never deletes CRDs: removed here)."""
    suffix = uuid.uuid4().hex[:8]
    yield write_chart(tmp_path / "applied", suffix)
    try:
        k8s.ApiextensionsV1Api(kube_api).delete_custom_resource_definition(f"widgets{suffix}.gripctl.dev")
    except k8s.ApiException as exc:
        if exc.status != 404:
            raise


def records(kube: Kube, name: str, namespace: str) -> list[dict[str, Any]]:
    """Every stored revision of the release, decoded, oldest first."""
    secrets, _ = kube.list_objects("Secret", namespace, label_selector=f"owner=helm,name={name}")
    decoded = [helm_storage.decode_record(s["data"]["release"]) for s in secrets]
    return sorted((r for r in decoded if r), key=lambda r: int(r["version"]))


def comparable(record: dict[str, Any], namespace: str) -> str:
    """The record with what must differ between the two runs made equal: the namespace and the times."""
    info = dict(record.get("info") or {})
    for key in ("first_deployed", "last_deployed", "deleted"):
        if key in info:
            info[key] = "<time>"
    record = {**record, "info": info}
    return json.dumps(record, sort_keys=True).replace(namespace, "<ns>")


def objects(kube: Kube, namespace: str) -> str:
    """The applied ConfigMap and Service as the API server keeps them, minus identity and times."""
    out = []
    for kind in ("ConfigMap", "Service"):
        obj = kube.get_at(f"/api/v1/namespaces/{namespace}/{kind.lower()}s/applied")
        assert obj is not None, f"{kind} applied missing in {namespace}"
        meta = obj["metadata"]
        fields = [{k: v for k, v in m.items() if k != "time"} for m in meta.get("managedFields", [])]
        spec = {k: v for k, v in (obj.get("spec") or {}).items() if k not in ("clusterIP", "clusterIPs")}
        out.append(
            {"kind": kind, "labels": meta.get("labels"), "annotations": meta.get("annotations"),
             "data": obj.get("data"), "spec": spec, "managedFields": fields}
        )  # fmt: skip
    return json.dumps(out, sort_keys=True).replace(namespace, "<ns>")


async def run_steps(
    tool: str, chart: Path, values_file: Path, namespace: str, target: KubeTarget
) -> list[Any]:
    """Install, upgrade with new values, then an upgrade the API server refuses; what each printed."""
    upgrade = TOOLS[tool]
    printed: list[Any] = []
    for step, (token, extra) in enumerate((("first", ""), ("second", "extra.added=yes"))):
        values = Values(
            files=[values_file], stdin_yaml=f"token: {token}\n".encode(),
            set_values=dict([extra.split("=")]) if extra else {},
        )  # fmt: skip
        record = await upgrade(
            "applied", chart, namespace, values, target,
            timeout_seconds=60, create_namespace=True, description=f"gripctl run {step + 1}",
        )  # fmt: skip
        printed.append(record)
    # A Service port out of range: refused by the API server, after helm has recorded revision 3.
    bad = Values(files=[values_file], set_values={"port": "99999999"})
    with pytest.raises(ToolError) as failed:
        await upgrade(
            "applied", chart, namespace, bad, target, timeout_seconds=60, description="gripctl run 3"
        )
    printed.append(failed.value.message)
    return printed


async def test_upgrade_records_and_objects_are_helms(
    tmp_path: Path, chart: Path, kube_target: KubeTarget, namespace: str, second_namespace: str
) -> None:
    require_helper()
    values_file = tmp_path / "v.yaml"
    values_file.write_text("greeting: hi\nnested: {a: 1, b: [x, z]}\n")
    kube = Kube(kube_target)
    by_tool = {"helm": namespace, "helmd": second_namespace}
    printed = {
        tool: await run_steps(tool, chart, values_file, ns, kube_target) for tool, ns in by_tool.items()
    }

    stored = {tool: records(kube, "applied", ns) for tool, ns in by_tool.items()}
    assert [r["info"]["status"] for r in stored["helm"]] == ["superseded", "deployed", "failed"]
    assert len(stored["helmd"]) == 3
    for mine, helms in zip(stored["helmd"], stored["helm"], strict=True):
        assert comparable(mine, second_namespace) == comparable(helms, namespace)
    # What each printed: the release record (`--output json`), then the same error message.
    for mine, helms in zip(printed["helmd"][:2], printed["helm"][:2], strict=True):
        assert comparable(mine, second_namespace) == comparable(helms, namespace)
    assert "UPGRADE FAILED" in printed["helm"][2]
    assert printed["helmd"][2].replace(second_namespace, "<ns>") == printed["helm"][2].replace(
        namespace, "<ns>"
    )
    # The objects as applied: same data, labels, annotations and field managers (server-side apply).
    assert objects(kube, second_namespace) == objects(kube, namespace)
    # The chart's CRD was installed by the first install, so its API showed in the capabilities of the
    # upgrade: discovery is fresh per request, as in a new helm process.
    assert stored["helmd"][1]["manifest"] == stored["helm"][1]["manifest"].replace(
        namespace, second_namespace
    )
    assert 'widgets: "true"' in stored["helmd"][1]["manifest"]


async def test_cancelled_upgrade_is_recorded_failed_like_sigterm_to_helm(
    chart: Path, kube_target: KubeTarget, namespace: str, second_namespace: str
) -> None:
    require_helper()
    outcome: dict[str, tuple[list[str], str, float]] = {}
    for tool, ns in {"helm": namespace, "helmd": second_namespace}.items():
        upgrade = TOOLS[tool]
        await upgrade("applied", chart, ns, Values(), kube_target, timeout_seconds=60)
        # The post-upgrade hook pod is never scheduled: helm waits on it until cancelled.
        task = asyncio.ensure_future(
            upgrade(
                "applied", chart, ns, Values(set_values={"hook": "true"}), kube_target, timeout_seconds=120
            )
        )
        deadline = time.monotonic() + 60
        while [h.status for h in await helmd.history("applied", ns, kube_target)][-1:] != ["pending-upgrade"]:
            assert time.monotonic() < deadline, f"{tool}: the upgrade never started"
            assert not task.done(), f"{tool}: the upgrade ended before it was cancelled: {task}"
            await asyncio.sleep(0.2)
        started = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        history = await helmd.history("applied", ns, kube_target)
        outcome[tool] = ([h.status for h in history], history[-1].description, time.monotonic() - started)
    assert outcome["helm"][0] == ["deployed", "failed"]
    assert outcome["helmd"][:2] == outcome["helm"][:2], outcome
    assert outcome["helmd"][2] < 10.0, outcome  # within the grace a helm process gets (STOP_GRACE_SECONDS)


async def test_upgrade_of_a_missing_chart_changes_nothing(
    tmp_path: Path, kube_target: KubeTarget, namespace: str
) -> None:
    require_helper()
    missing = tmp_path / "no-such-chart"
    messages = []
    for upgrade in TOOLS.values():
        with pytest.raises(ToolError) as failed:
            await upgrade("ghost", missing, namespace, Values(), kube_target, timeout_seconds=30)
        messages.append(failed.value.message)
    assert messages[0] == messages[1], messages
    assert str(missing) in messages[0]
    assert await helmd.history("ghost", namespace, kube_target) == []


def crd(kind: str) -> str:
    return (
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"
        f"metadata:\n  name: {kind.lower()}s.gripctl.dev\n"
        "spec:\n  group: gripctl.dev\n  scope: Namespaced\n"
        f"  names: {{plural: {kind.lower()}s, singular: {kind.lower()}, kind: {kind}}}\n"
        "  versions:\n  - name: v1\n    served: true\n    storage: true\n"
        "    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}\n"
    )


def custom(kind: str) -> str:
    name = "{{ .Release.Name }}"
    return f"apiVersion: gripctl.dev/v1\nkind: {kind}\nmetadata:\n  name: {name}\nspec: {{size: 3}}\n"


def small(root: Path, files: dict[str, str]) -> Path:
    for rel, text in {"Chart.yaml": f"apiVersion: v2\nname: {root.name}\nversion: 0.1.0\n", **files}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


async def test_kinds_of_crds_installed_meanwhile_are_found_as_helm_finds_them(
    tmp_path: Path, kube_api: k8s.ApiClient, kube_target: KubeTarget, namespace: str, second_namespace: str
) -> None:
    """A release whose objects are of a kind a CRD installed a moment ago defines — by the release before
    it (cert-manager, then its issuers) or by its own crds/ — after the helper has already discovered
    the cluster without that kind: found, as a new helm process finds it. (A mapper shared by a
    connection's upgrades failed the example's 020-cluster-issuers in bench/scale.py.)"""
    require_helper()
    kinds: list[str] = []
    manifests: dict[str, list[str]] = {}
    try:
        for tool, ns in {"helm": namespace, "helmd": second_namespace}.items():
            gizmo, gadget = f"Gizmo{uuid.uuid4().hex[:8]}", f"Gadget{uuid.uuid4().hex[:8]}"
            kinds += [gizmo, gadget]
            charts = {
                "warm": small(tmp_path / tool / "warm", {"templates/cm.yaml": CHART["templates/cm.yaml"]}),
                # A CRD as a template (as examples/webgrip's cert-manager ships its CRDs): helm resets no
                # REST mapper after it, unlike after a chart's crds/.
                "provider": small(tmp_path / tool / "provider", {"templates/gizmo-crd.yaml": crd(gizmo)}),
                "consumer": small(tmp_path / tool / "consumer", {"templates/gizmo.yaml": custom(gizmo)}),
                "bundle": small(
                    tmp_path / tool / "bundle",
                    {"crds/gadget.yaml": crd(gadget), "templates/g.yaml": custom(gadget)},
                ),
            }
            for name, chart in charts.items():
                record = await TOOLS[tool](name, chart, ns, Values(), kube_target, timeout_seconds=60)
                assert record["info"]["status"] == "deployed", (tool, name, record["info"])
            manifests[tool] = [
                str(records(Kube(kube_target), name, ns)[-1]["manifest"])
                .replace(gizmo, "Gizmo")
                .replace(gadget, "Gadget")
                for name in ("consumer", "bundle")
            ]
        assert manifests["helmd"] == manifests["helm"]
        assert "kind: Gizmo" in manifests["helmd"][0] and "kind: Gadget" in manifests["helmd"][1]
    finally:
        api = k8s.ApiextensionsV1Api(kube_api)
        for kind in kinds:
            try:
                api.delete_custom_resource_definition(f"{kind.lower()}s.gripctl.dev")
            except k8s.ApiException as exc:
                if exc.status != 404:
                    raise


async def test_a_cancel_that_overtakes_its_upgrade_still_stops_it(
    tmp_path: Path, kube_target: KubeTarget, namespace: str
) -> None:
    """Requests start in goroutines of their own, so a cancel can be handled before the request it
    names: the helper keeps it, and the upgrade starts already stopped (helm records it failed)."""
    helper = require_helper()
    chart = small(tmp_path / "overtaken", {"templates/cm.yaml": CHART["templates/cm.yaml"]})
    upgrade = {
        "id": 7, "op": "upgrade", "name": "overtaken", "chart": str(chart), "namespace": namespace,
        "upgrade": helm.upgrade_flags(timeout_seconds=60, create_namespace=False, description=None),
        "kubeconfig": str(kube_target.kubeconfig), "context": kube_target.context,
    }  # fmt: skip
    lines = [{"id": 6, "op": "cancel", "request": 7}, upgrade]
    proc = await asyncio.to_thread(
        subprocess.run,
        [helper.path],
        input="".join(json.dumps(line) + "\n" for line in lines).encode(),
        capture_output=True,
        timeout=120,
    )
    answers = {a["id"]: a for a in map(json.loads, proc.stdout.decode().splitlines())}
    assert answers[6]["exit"] == 0, answers
    assert answers[7]["exit"] == 1 and "context canceled" in answers[7]["error"], answers
    assert [h.status for h in await helmd.history("overtaken", namespace, kube_target)] == ["failed"]
