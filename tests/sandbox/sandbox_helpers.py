"""Helpers for the sandbox's own tests: tiny charts written on the fly, and waiting by watch."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubernetes import client as k8s
from kubernetes import watch as k8s_watch

DEPLOYMENT_CHART = {
    "Chart.yaml": """
        apiVersion: v2
        name: web
        version: 0.1.0
    """,
    "values.yaml": """
        replicas: 2
        tag: "1.0"
        podLabels: {}
        podAnnotations: {}
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
              {{- with .Values.podAnnotations }}
              annotations:
                {{- toYaml . | nindent 8 }}
              {{- end }}
            spec:
              containers:
              - name: web
                image: "registry.example/web:{{ .Values.tag }}"
    """,
}


def write_chart(root: Path, files: dict[str, str]) -> Path:
    """Write a chart from {relative path: text}; returns its folder."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    return root


def watch_until(
    list_fn: Callable[..., Any], *args: Any, predicate: Callable[[Any], bool], timeout: int, **kwargs: Any
) -> Any | None:
    """The first object (from the initial list, then changes) that satisfies `predicate`, or None when
    `timeout` seconds pass first."""
    w = k8s_watch.Watch()
    try:
        for event in w.stream(list_fn, *args, timeout_seconds=timeout, **kwargs):
            if event["type"] != "DELETED" and predicate(event["object"]):
                return event["object"]
    finally:
        w.stop()
    return None


def rollout_complete(dep: k8s.V1Deployment) -> bool:
    """`kubectl rollout status` semantics: the controller saw this generation and every replica is
    updated, ready and available."""
    want = dep.spec.replicas
    st = dep.status
    return bool(
        st
        and (st.observed_generation or 0) >= dep.metadata.generation
        and (st.updated_replicas or 0) == want
        and (st.ready_replicas or 0) == want
        and (st.available_replicas or 0) == want
        and (st.replicas or 0) == want
    )


def pod_ready(pod: k8s.V1Pod) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or []))
