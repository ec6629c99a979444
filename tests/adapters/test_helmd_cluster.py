"""gripctl-helmd reads releases exactly as the helm binary does: on the sandbox, a release installed and
upgraded by `helm` itself, then list, history, get manifest and get values (latest and an older
revision) compared byte for byte with helm's stdout, and through the adapter functions observe calls.
Also: a release that does not exist, and clusters that cannot be reached, fail alike."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from helmd_helpers import require_helper

from gripctl.adapters import helm, helmd
from gripctl.adapters.helm import KubeTarget
from gripctl.adapters.process import run_async
from gripctl.errors import ToolError

CHART = {
    "Chart.yaml": "apiVersion: v2\nname: reads\nversion: 0.3.0\nappVersion: '9.1'\n",
    "values.yaml": "greeting: hello\n",
    "templates/cm.yaml": (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n"
        "data:\n  greeting: {{ .Values.greeting | quote }}\n  token: {{ .Values.token | quote }}\n"
    ),
}


def write_chart(root: Path) -> Path:
    for rel, text in CHART.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


async def helm_stdout(args: Sequence[str]) -> str:
    result = await run_async("helm", list(args))
    return result.stdout


def target_fields(target: KubeTarget) -> dict[str, Any]:
    return {"kubeconfig": str(target.kubeconfig), "context": target.context}


@pytest.fixture
async def installed(tmp_path: Path, kube_target: KubeTarget, namespace: str) -> str:
    """A release `reads` in `namespace` at revision 2 (revision 1 superseded), installed by helm itself
    with a values file and values on stdin (as gripctl passes decrypted secrets)."""
    chart = write_chart(tmp_path / "reads")
    (tmp_path / "v.yaml").write_text("greeting: hi\nnested: {a: 1, b: [x, z]}\n")
    for revision, token in ((1, "first-token"), (2, "second-token")):
        result = await run_async(
            "helm",
            ["upgrade", "--install", "reads", str(chart), "--namespace", namespace, "--wait=hookOnly",
             "--timeout", "60s", "--values", str(tmp_path / "v.yaml"), "--values", "-",
             "--set", f"count={revision}", *kube_target.args()],
            stdin=f"token: {token}\n".encode(),
        )  # fmt: skip
        assert result.ok, result.stderr
    return "reads"


async def test_reads_are_helms_stdout_byte_for_byte(
    installed: str, kube_target: KubeTarget, namespace: str
) -> None:
    helper = require_helper()
    kube = [*kube_target.args()]
    where = {"name": installed, "namespace": namespace, **target_fields(kube_target)}
    states = [f"--{s}" for s in helm.LIST_STATES]
    cases: list[tuple[list[str], dict[str, Any]]] = [
        (
            ["list", *states, "--max", "100000", "--output", "json", "--namespace", namespace, *kube],
            {"op": "list", "namespace": namespace, "states": list(helm.LIST_STATES), "max": 100000},
        ),
        (
            ["history", installed, "--namespace", namespace, "--max", "20", "--output", "json", *kube],
            {"op": "history", "max": 20},
        ),
        (
            ["history", installed, "--namespace", namespace, "--max", "1", "--output", "json", *kube],
            {"op": "history", "max": 1},
        ),
        (["get", "manifest", installed, "--namespace", namespace, *kube], {"op": "get_manifest"}),
        (
            ["get", "manifest", installed, "--namespace", namespace, "--revision", "1", *kube],
            {"op": "get_manifest", "revision": 1},
        ),
        (
            ["get", "values", installed, "--namespace", namespace, "--output", "json", *kube],
            {"op": "get_values"},
        ),
        (
            [
                "get",
                "values",
                installed,
                "--namespace",
                namespace,
                "--output",
                "json",
                "--revision",
                "1",
                *kube,
            ],
            {"op": "get_values", "revision": 1},
        ),
    ]
    for args, request in cases:
        expected = await helm_stdout(args)
        fields = {**where, **request}
        answer = await helper.call(fields.pop("op"), **fields)
        assert (answer.exit, answer.stdout) == (0, expected), args
    assert '"status":"superseded"' in await helm_stdout(cases[1][0])  # both revisions are there
    assert "first-token" in await helm_stdout(cases[6][0])


async def test_adapter_functions_return_what_the_helm_adapter_returns(
    installed: str, kube_target: KubeTarget, namespace: str
) -> None:
    require_helper()
    args = (installed, namespace, kube_target)
    history = await helmd.history(*args, max_entries=20)
    assert history == await helm.history(*args, max_entries=20)
    assert [(e.revision, e.status, e.chart, e.app_version) for e in history] == [
        (1, "superseded", "reads-0.3.0", "9.1"),
        (2, "deployed", "reads-0.3.0", "9.1"),
    ]
    for revision in (None, 1, 2):
        manifest = await helmd.get_manifest(*args, revision=revision)
        assert manifest == await helm.get_manifest(*args, revision=revision)
        assert "kind: ConfigMap" in manifest
        values = await helmd.get_values(*args, revision=revision)
        assert values == await helm.get_values(*args, revision=revision)
        assert values["token"] == ("first-token" if revision == 1 else "second-token")
        assert values["count"] == (revision or 2) and values["nested"] == {"a": 1, "b": ["x", "z"]}
    rows = await helmd.list_releases(namespace, kube_target)
    assert rows == await helm.list_releases(namespace, kube_target)
    assert [(r["name"], r["revision"], r["status"]) for r in rows] == [(installed, "2", "deployed")]

    # all namespaces: other sessions may change their own releases meanwhile; this one is stable
    def mine(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [r for r in rows if r["namespace"] == namespace]

    everywhere = await helmd.list_releases(None, kube_target)
    assert mine(everywhere) == mine(await helm.list_releases(None, kube_target)) == rows


async def test_a_release_that_does_not_exist(kube_target: KubeTarget, namespace: str) -> None:
    require_helper()
    args = ("never-installed", namespace, kube_target)
    assert await helmd.history(*args) == await helm.history(*args) == []
    assert await helmd.list_releases(namespace, kube_target) == []
    for call in ("get_manifest", "get_values"):
        messages = []
        for adapter in (helm, helmd):
            with pytest.raises(ToolError) as err:
                await getattr(adapter, call)(*args)
            messages.append(err.value.message)
        assert messages[0] == messages[1] and messages[1].endswith("Error: release: not found"), messages


# --- clusters that cannot be reached (no sandbox needed) -------------------------------------------

UNREACHABLE_KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
- name: gone
  cluster: {server: "https://127.0.0.1:1"}
contexts:
- name: gone
  context: {cluster: gone, user: nobody}
current-context: gone
users:
- name: nobody
  user: {token: not-a-secret}
"""


async def fail_alike(call: str, *args: object) -> str:
    messages = []
    for adapter in (helm, helmd):
        with pytest.raises(ToolError) as err:
            await getattr(adapter, call)(*args)
        messages.append(err.value.message)
    assert messages[0] == messages[1]
    return messages[1]


@pytest.mark.parametrize(
    ("kubeconfig_text", "context", "expected"),
    [
        (UNREACHABLE_KUBECONFIG, "gone", "connect: connection refused"),
        (UNREACHABLE_KUBECONFIG, "no-such-context", 'context "no-such-context" does not exist'),
        (None, None, "no such file or directory"),
    ],
    ids=["refused", "unknown-context", "no-kubeconfig"],
)
async def test_unreachable_cluster_fails_alike(
    tmp_path: Path, kubeconfig_text: str | None, context: str | None, expected: str
) -> None:
    require_helper()
    kubeconfig = tmp_path / "kubeconfig"
    if kubeconfig_text is not None:
        kubeconfig.write_text(kubeconfig_text)
    target = KubeTarget(context=context, kubeconfig=kubeconfig)
    for call, args in [
        ("history", ("web", "web", target)),
        ("get_manifest", ("web", "web", target)),
        ("get_values", ("web", "web", target)),
        ("list_releases", (None, target)),
    ]:
        message = await fail_alike(call, *args)
        assert "kubernetes cluster unreachable" in message and expected in message, message
        assert "not-a-secret" not in message
