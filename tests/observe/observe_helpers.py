"""Helpers for observe tests: a tiny chart and a one-release platform written to a temp folder."""

from __future__ import annotations

import textwrap
from pathlib import Path

from gripctl.model.types import Environment, Platform, Release

CHART = {
    "Chart.yaml": """
        apiVersion: v2
        name: web
        version: 0.1.0
    """,
    "values.yaml": """
        replicas: 1
        tag: "1.0"
        greeting: hello
        podLabels: {}
    """,
    "templates/deployment.yaml": """
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: {{ .Release.Name }}
        spec:
          replicas: {{ .Values.replicas }}
          selector:
            matchLabels:
              app: {{ .Release.Name }}
          template:
            metadata:
              labels:
                app: {{ .Release.Name }}
                {{- with .Values.podLabels }}
                {{- toYaml . | nindent 8 }}
                {{- end }}
            spec:
              containers:
              - name: web
                image: "registry.example/web:{{ .Values.tag }}"
    """,
    "templates/configmap.yaml": """
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: {{ .Release.Name }}-config
        data:
          greeting: {{ .Values.greeting | quote }}
          upgrade: {{ .Release.IsUpgrade | quote }}
    """,
    "templates/hook.yaml": """
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: {{ .Release.Name }}-hook
          annotations:
            helm.sh/hook: pre-install
        data: {}
    """,
}


def write_files(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    return root


def one_release_platform(
    root: Path,
    *,
    namespace: str = "web",
    name: str = "web",
    values: dict[str, str] | None = None,
    set_values: dict[str, str] | None = None,
    context: str | None = None,
    kubeconfig: Path | None = None,
    chart: dict[str, str] | None = None,
) -> Platform:
    """`root` with gripctl.yaml, ops/helm/010-web (the chart) and values files {relative path: text}."""
    write_files(root, {"gripctl.yaml": "apiVersion: gripctl/v1\n"})
    chart_dir = write_files(root / "ops" / "helm" / "010-web", chart or CHART)
    write_files(root, values or {})
    release = Release(
        id="010-web",
        name=name,
        namespace=namespace,
        chart_path=chart_dir,
        order=10,
        values_files=tuple(root / rel for rel in (values or {})),
        set_values=set_values or {},
    )
    env = Environment(name="test", context=context, kubeconfig=kubeconfig)
    return Platform(
        root=root,
        config_path=root / "gripctl.yaml",
        environment=env,
        environments={"test": env},
        releases={"010-web": release},
    )
