"""gripctl-helmd renders exactly as `helm template` does: every release of the example platform, both
environments (SOPS secrets included), with and without --is-upgrade and --kube-version, byte for byte;
the same failures with the same messages; and the helm binary when the helper is not installed."""

from __future__ import annotations

import asyncio
import base64
import os
import stat
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from helmd_helpers import AGE_KEY, example_releases, require_helper

from gripctl.adapters import helm, helmd
from gripctl.adapters.helm import Values
from gripctl.adapters.toolchain import find_tool
from gripctl.errors import ToolError

# What gripctl passes as --kube-version: the live server's version (the sandbox's).
KUBE_VERSION = "v1.36.3"
VARIANTS = [(False, None), (True, None), (False, KUBE_VERSION), (True, KUBE_VERSION)]


@pytest.fixture(autouse=True)
def age_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(AGE_KEY))


@pytest.mark.parametrize("environment", ["staging", "production"])
async def test_every_example_release_renders_identically(environment: str) -> None:
    require_helper()
    compared, with_secrets = 0, 0
    for release, chart, values in example_releases(environment):
        with_secrets += values.stdin_yaml is not None
        for is_upgrade, kube_version in VARIANTS:
            args = (release.name, chart, release.namespace, values)
            expected = await helm.render_release_manifest_async(
                *args, kube_version=kube_version, is_upgrade=is_upgrade
            )
            got = await helmd.render_release_manifest_async(
                *args, kube_version=kube_version, is_upgrade=is_upgrade
            )
            assert got == expected, f"{environment} {release.id} is_upgrade={is_upgrade} kube={kube_version}"
            assert "kind:" in got  # a real manifest, not two empty strings
            compared += 1
    assert compared == 12 * len(VARIANTS) and with_secrets == 3  # 9 releases + 3 secrets releases


async def test_full_template_with_hooks_and_crds_is_helm_templates_stdout() -> None:
    """The `template` operation beyond observe's use: hooks printed after the manifest, CRDs included."""
    helper = require_helper()
    for release, chart, values in example_releases("production"):
        expected = await helm.template_check_async(
            release.name, chart, release.namespace, values, kube_version=KUBE_VERSION, include_crds=True
        )
        assert expected.ok, expected.stderr
        answer = await helper.call(
            "template",
            name=release.name,
            chart=str(chart),
            namespace=release.namespace,
            kube_version=KUBE_VERSION,
            include_crds=True,
            values_files=[str(f) for f in values.files] + (["-"] if values.stdin_yaml is not None else []),
            stdin=base64.b64encode(values.stdin_yaml or b"").decode(),
            set=[f"{k}={v}" for k, v in values.set_values.items()],
        )
        assert (answer.exit, answer.stdout) == (0, expected.stdout), release.id


CAPABILITIES_CHART = {
    "Chart.yaml": "apiVersion: v2\nname: caps\nversion: 1.2.3\nappVersion: '4.5'\nkubeVersion: '>=1.20.0-0'",
    "values.yaml": "fromChart: 1\nnested: {a: 1, b: 2}\n",
    "templates/caps.yaml": """
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: {{ .Release.Name }}
          namespace: {{ .Release.Namespace }}
        data:
          kube: {{ .Capabilities.KubeVersion | quote }}
          helm: {{ .Capabilities.HelmVersion | toJson | quote }}
          apis: {{ .Capabilities.APIVersions | toJson | quote }}
          release: {{ .Release | toJson | quote }}
          chart: {{ .Chart | toJson | quote }}
          values: {{ .Values | toJson | quote }}
          lookup: {{ lookup "v1" "Namespace" "" "default" | toJson | quote }}
    """,
    "templates/NOTES.txt": "notes for {{ .Release.Name }}\n",
    "templates/hook.yaml": """
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: {{ .Release.Name }}-hook
          annotations: {"helm.sh/hook": pre-install}
    """,
}


def write_chart(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    return root


async def test_capabilities_release_and_typed_values_are_the_same(tmp_path: Path) -> None:
    """What a chart can see of its environment (Kubernetes and Helm versions, API versions, release
    fields) and the layering of values files, stdin and typed --set values."""
    require_helper()
    chart = write_chart(tmp_path / "caps", CAPABILITIES_CHART)
    (tmp_path / "v.yaml").write_text("nested: {b: 3, c: [1, 2]}\nstr: '007'\n")
    values = Values(
        files=[tmp_path / "v.yaml"],
        stdin_yaml=b"nested: {d: secret-value}\nbig: 12345678901234567890\n",
        set_values={"n": "0", "t": "true", "e": "", "list": "{a,b}", "dotted\\.key": "x", "f": "1.50"},
    )
    for is_upgrade, kube_version in VARIANTS:
        kwargs = {"kube_version": kube_version, "is_upgrade": is_upgrade}
        expected = await helm.render_release_manifest_async("caps", chart, "caps-ns", values, **kwargs)
        got = await helmd.render_release_manifest_async("caps", chart, "caps-ns", values, **kwargs)
        assert got == expected
        assert '\\"version\\":\\"v4.3.1\\"' in got and "secret-value" in got and "apps/v1" in got


async def test_concurrent_renders_equal_sequential_helm_renders() -> None:
    """Many renders in flight on the one helper at once (it renders from several goroutines)."""
    require_helper()
    cases = [
        (release, chart, values, up)
        for env in ("staging", "production")
        for release, chart, values in example_releases(env)
        for up in (False, True)
    ]
    expected = [
        await helm.render_release_manifest_async(r.name, c, r.namespace, v, is_upgrade=up)
        for r, c, v, up in cases
    ]
    got = await asyncio.gather(
        *(
            helmd.render_release_manifest_async(r.name, c, r.namespace, v, is_upgrade=up)
            for _ in range(3)
            for r, c, v, up in cases
        )
    )
    assert list(got) == expected * 3


# --- failures: the same ToolError, with the same message, from both ------------------------------


async def both_fail(*args: object, **kwargs: object) -> str:
    messages = []
    for adapter in (helm, helmd):
        with pytest.raises(ToolError) as err:
            await adapter.render_release_manifest_async(*args, **kwargs)  # type: ignore[arg-type]
        messages.append(err.value.message)
    assert messages[0] == messages[1]
    return messages[1]


async def test_broken_template_fails_alike(tmp_path: Path) -> None:
    require_helper()
    chart = write_chart(
        tmp_path / "broken",
        {
            "Chart.yaml": "apiVersion: v2\nname: broken\nversion: 0.1.0\n",
            "templates/a.yaml": "x: {{ .Values.a | nope }}\n",
        },
    )
    message = await both_fail("b", chart, "ns", Values())
    assert (
        message.startswith("helm template b failed (exit 1): Error: ")
        and 'function "nope" not defined' in message
    )


async def test_failing_template_execution_fails_alike(tmp_path: Path) -> None:
    require_helper()
    chart = write_chart(
        tmp_path / "required",
        {
            "Chart.yaml": "apiVersion: v2\nname: required\nversion: 0.1.0\n",
            "templates/a.yaml": 'x: {{ required "set .Values.needed" .Values.needed }}\n',
        },
    )
    message = await both_fail("r", chart, "ns", Values())
    assert "set .Values.needed" in message and "Use --debug flag to render out invalid YAML" in message


async def test_missing_chart_fails_alike(tmp_path: Path) -> None:
    require_helper()
    message = await both_fail("m", tmp_path / "no-chart", "ns", Values())
    assert f'path "{tmp_path / "no-chart"}" not found' in message


async def test_missing_values_file_fails_alike(tmp_path: Path) -> None:
    require_helper()
    chart = write_chart(tmp_path / "caps", CAPABILITIES_CHART)
    message = await both_fail("m", chart, "ns", Values(files=[tmp_path / "absent.yaml"]))
    assert f"open {tmp_path / 'absent.yaml'}: no such file or directory" in message


async def test_malformed_stdin_values_fail_alike_and_name_stdin(tmp_path: Path) -> None:
    require_helper()
    chart = write_chart(tmp_path / "caps", CAPABILITIES_CHART)
    message = await both_fail("m", chart, "ns", Values(stdin_yaml=b"a: [unclosed\n"))
    assert "failed to parse -:" in message and helmd.HELPER not in message


async def test_bad_kube_version_and_incompatible_chart_fail_alike(tmp_path: Path) -> None:
    require_helper()
    chart = write_chart(tmp_path / "caps", CAPABILITIES_CHART)
    assert "invalid kube version 'banana'" in await both_fail(
        "m", chart, "ns", Values(), kube_version="banana"
    )
    assert "chart requires kubeVersion" in await both_fail("m", chart, "ns", Values(), kube_version="1.10.0")


async def test_missing_dependency_fails_alike(tmp_path: Path) -> None:
    require_helper()
    chart = write_chart(
        tmp_path / "deps",
        {
            "Chart.yaml": """
                apiVersion: v2
                name: deps
                version: 0.1.0
                dependencies:
                  - name: sub
                    version: 1.0.0
                    repository: https://charts.example.invalid
            """,
            "templates/a.yaml": "x: 1\n",
        },
    )
    assert "helm dependency build" in await both_fail("d", chart, "ns", Values())


# --- choosing the helper or the helm binary --------------------------------------------------------


@pytest.fixture
def fresh_lookup() -> Iterator[None]:
    """find_tool caches its answers; these tests change where tools are found."""
    yield None
    find_tool.cache_clear()


def logging_helm(folder: Path, log: Path) -> Path:
    """A `helm` that records each call, then runs the real one."""
    folder.mkdir()
    script = folder / "helm"
    script.write_text(f'#!/bin/sh\necho "$1" >> {log}\nexec {find_tool("helm")} "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    find_tool.cache_clear()  # the next lookups see the environment the test sets
    return folder


async def test_without_the_helper_the_helm_binary_renders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_lookup: None
) -> None:
    chart = write_chart(tmp_path / "caps", CAPABILITIES_CHART)
    log = tmp_path / "calls.log"
    monkeypatch.setenv("GRIPCTL_TOOLCHAIN_BIN", str(logging_helm(tmp_path / "bin", log)))
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # nor on PATH
    assert not helmd.enabled()
    manifest = await helmd.render_release_manifest_async("caps", chart, "ns", Values())
    assert "name: caps" in manifest and log.read_text().split() == ["template"]


async def test_helper_can_be_switched_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_lookup: None
) -> None:
    require_helper()
    chart = write_chart(tmp_path / "caps", CAPABILITIES_CHART)
    log = tmp_path / "calls.log"
    helper_dir = Path(find_tool(helmd.HELPER)).parent
    monkeypatch.setenv("GRIPCTL_TOOLCHAIN_BIN", str(logging_helm(tmp_path / "bin", log)))
    monkeypatch.setenv("PATH", f"{helper_dir}{os.pathsep}/usr/bin:/bin")  # the helper is there ...
    assert helmd.enabled()
    monkeypatch.setenv(helmd.DISABLE_ENV, "0")  # ... and not used
    assert not helmd.enabled()
    await helmd.render_release_manifest_async("caps", chart, "ns", Values())
    assert log.read_text().split() == ["template"]
