"""Small synthetic platforms for engine tests and the deploy benchmark: one tiny chart per release
(a Deployment + a Service), written into a temporary folder with its gripctl.yaml.

A release's behaviour on the sandbox is driven by its chart values: `inject` sets the pod label
`gripctl.dev/inject` (never-ready, crash, slow-ready), `version` changes the pod template (an upgrade),
`replicas` the replica count, `headless` makes the Service headless (no cluster IP: the sandbox's
Service IP range holds ~250 addresses, fewer than the benchmarks' 300-release platforms need).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
  labels: {app: {{ .Release.Name }}}
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels: {app: {{ .Release.Name }}}
  template:
    metadata:
      labels:
        app: {{ .Release.Name }}
        {{- if .Values.inject }}
        gripctl.dev/inject: {{ .Values.inject }}
        {{- end }}
      annotations:
        gripctl.dev/version: {{ .Values.version | quote }}
        {{- if .Values.readyAfter }}
        gripctl.dev/ready-after: {{ .Values.readyAfter | quote }}
        {{- end }}
    spec:
      containers:
        - name: app
          image: "registry.local/app:{{ .Values.version }}"
---
apiVersion: v1
kind: Service
metadata:
  name: {{ .Release.Name }}
spec:
  {{- if .Values.headless }}
  clusterIP: None
  {{- end }}
  selector: {app: {{ .Release.Name }}}
  ports: [{port: 80, targetPort: 8080}]
{{- if .Values.hangingHook }}
---
# A hook that never completes: helm waits for hooks, so the release stays pending-install/-upgrade.
apiVersion: v1
kind: Pod
metadata:
  name: {{ .Release.Name }}-hook
  labels: {gripctl.dev/inject: never-ready}
  annotations: {helm.sh/hook: "pre-install,pre-upgrade", helm.sh/hook-delete-policy: before-hook-creation}
spec:
  restartPolicy: Never
  containers: [{name: hook, image: "registry.local/hook:1"}]
{{- end }}
"""


@dataclass
class SynthPlatform:
    root: Path
    environment: str  # the sandbox environment (no approval)
    production: str  # an environment with approval: required, approvers [alice]
    namespace: str
    ids: list[str]

    def chart_values(self, release_id: str) -> Path:
        return self.root / "ops" / "helm" / release_id / "values.yaml"

    def set_values(self, release_id: str, **values: object) -> None:
        path = self.chart_values(release_id)
        data = yaml.safe_load(path.read_text()) or {}
        data.update(values)
        path.write_text(yaml.safe_dump(data))


def make_platform(
    root: Path,
    *,
    namespace: str,
    kubeconfig: Path,
    context: str,
    needs: Mapping[str, Sequence[str]],
    values: Mapping[str, Mapping[str, object]] | None = None,
    timeout: str = "60s",
    remediation: str = "rollback",
    monitor: str = "0s",
    concurrency: int = 4,
    release_extra: Mapping[str, Mapping[str, object]] | None = None,
    environment_extra: Mapping[str, object] | None = None,
    production: Mapping[str, object] | None = None,
    extra: Mapping[str, object] | None = None,
) -> SynthPlatform:
    """`needs` maps release ids (`NNN-name`, in any order) to the ids they need; `environment_extra`
    adds to both environments' settings, `production` to the production one's, `extra` to gripctl.yaml's
    top level."""
    env = f"sbx{uuid.uuid4().hex[:6]}"
    prod = f"prd{uuid.uuid4().hex[:6]}"
    releases: dict[str, object] = {}
    for rid, deps in needs.items():
        chart = root / "ops" / "helm" / rid
        (chart / "templates").mkdir(parents=True)
        (chart / "Chart.yaml").write_text(
            yaml.safe_dump({"apiVersion": "v2", "name": rid.split("-", 1)[1], "version": "0.1.0"})
        )
        chart_values = {"replicas": 1, "version": "v1", "inject": "", "readyAfter": "", "hangingHook": False}
        chart_values.update((values or {}).get(rid, {}))
        (chart / "values.yaml").write_text(yaml.safe_dump(chart_values))
        (chart / "templates" / "app.yaml").write_text(DEPLOYMENT)
        releases[rid] = {"namespace": namespace, "needs": list(deps), **(release_extra or {}).get(rid, {})}
    env_spec = {
        "context": context,
        "kubeconfig": str(kubeconfig),
        "monitor": monitor,
        "concurrency": concurrency,
        **(environment_extra or {}),
    }
    config = {
        "apiVersion": "gripctl/v1",
        "ledger": {"url": "sqlite:///.gripctl/ledger.sqlite"},
        "defaults": {"timeout": timeout, "remediation": remediation},
        "releases": releases,
        "environments": {
            env: env_spec,
            prod: {**env_spec, "approval": "required", "approvers": ["alice"], **(production or {})},
        },
        **(extra or {}),
    }
    (root / "gripctl.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return SynthPlatform(root, env, prod, namespace, list(needs))
