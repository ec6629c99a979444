"""Benchmark: `gripctl validate` (every check, one environment) against sequential helm lint + template.

Builds a synthetic platform of N charts (default 100) in a temporary directory, each chart distinct
(its own names, values and a ConfigMap of its own), with one environment values file. Then, in this
one invocation, it times:

- baseline: what a competent CI script runs, as one bash script: `helm lint` over all charts in one
  call, then `helm template` of every chart in parallel with `xargs -P <cores>` (each render's output
  discarded, a failing one failing the script);
- gripctl: `gripctl validate -e bench --format json` as a subprocess (start-up and imports included),
  running every check: lint, render, schema, yamllint, secret scan, policies, image-scan notice.

It prints both times, the ratio gripctl/baseline and the CPU-time ratio. gripctl does more than the
baseline (schema, yamllint, secret scan, policies); the ratio says what that costs against the
cheapest script that still lints and renders everything.
Usage: python bench/validate.py [--charts N]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gripctl.adapters.toolchain import find_tool, tool_env

CHART = """apiVersion: v2
name: {name}
description: Synthetic service {i} for the validate benchmark
type: application
version: 1.{i}.0
appVersion: "2.{i}.0"
"""

VALUES = """replicaCount: 1
image:
  repository: ghcr.io/webgrip/{name}
  tag: "2.{i}.0"
service:
  port: {port}
resources:
  requests: {{cpu: 50m, memory: 64Mi}}
  limits: {{cpu: 200m, memory: 128Mi}}
settings:
  logLevel: info
  featureFlag{i}: true
  upstream: http://upstream-{i}.internal:8080
"""

HELPERS = """{{{{- define "{name}.labels" -}}}}
app.kubernetes.io/name: {name}
app.kubernetes.io/instance: {{{{ .Release.Name }}}}
app.kubernetes.io/managed-by: {{{{ .Release.Service }}}}
{{{{- end }}}}
"""

DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{{{ .Release.Name }}}}
  labels:
    {{{{- include "{name}.labels" . | nindent 4 }}}}
spec:
  replicas: {{{{ .Values.replicaCount }}}}
  selector:
    matchLabels:
      app.kubernetes.io/name: {name}
  template:
    metadata:
      labels:
        {{{{- include "{name}.labels" . | nindent 8 }}}}
    spec:
      securityContext:
        runAsNonRoot: true
      containers:
        - name: {name}
          image: "{{{{ .Values.image.repository }}}}:{{{{ .Values.image.tag }}}}"
          ports:
            - containerPort: {{{{ .Values.service.port }}}}
          livenessProbe:
            httpGet: {{path: /healthz, port: {{{{ .Values.service.port }}}}}}
          readinessProbe:
            httpGet: {{path: /ready, port: {{{{ .Values.service.port }}}}}}
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
          resources:
            {{{{- toYaml .Values.resources | nindent 12 }}}}
          envFrom:
            - configMapRef:
                name: {{{{ .Release.Name }}}}-settings
"""

SERVICE = """apiVersion: v1
kind: Service
metadata:
  name: {{{{ .Release.Name }}}}
  labels:
    {{{{- include "{name}.labels" . | nindent 4 }}}}
spec:
  selector:
    app.kubernetes.io/name: {name}
  ports:
    - port: {{{{ .Values.service.port }}}}
      targetPort: {{{{ .Values.service.port }}}}
"""

CONFIGMAP = """apiVersion: v1
kind: ConfigMap
metadata:
  name: {{{{ .Release.Name }}}}-settings
data:
  {{{{- range $k, $v := .Values.settings }}}}
  {{{{ $k }}}}: {{{{ $v | quote }}}}
  {{{{- end }}}}
"""

NETPOL = """apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{{{ .Release.Name }}}}-default-deny
spec:
  podSelector: {{}}
  policyTypes: [Ingress]
"""


def build(root: Path, charts: int) -> list[tuple[str, Path, str]]:
    """Write the platform; returns (helm release name, chart path, namespace) per chart."""
    (root / "envs").mkdir(parents=True)
    (root / "envs" / "bench.yaml").write_text("global:\n  environment: bench\n")
    (root / "gripctl.yaml").write_text(
        "apiVersion: gripctl/v1\ncharts: ops/helm\n"
        "environments:\n  bench:\n    context: bench\n    values: [envs/bench.yaml]\n"
    )
    out = []
    for i in range(1, charts + 1):
        name = f"svc{i:03d}"
        chart = root / "ops" / "helm" / f"{100 + i}-{name}"
        (chart / "templates").mkdir(parents=True)
        fields = {"name": name, "i": i, "port": 8000 + i}
        (chart / "Chart.yaml").write_text(CHART.format(**fields))
        (chart / "values.yaml").write_text(VALUES.format(**fields))
        for filename, text in [
            ("_helpers.tpl", HELPERS),
            ("deployment.yaml", DEPLOYMENT),
            ("service.yaml", SERVICE),
            ("configmap.yaml", CONFIGMAP),
            ("networkpolicy.yaml", NETPOL),
        ]:
            (chart / "templates" / filename).write_text(text.format(**fields))
        out.append((name, chart, name))
    return out


def children_cpu() -> float:
    """CPU seconds (user + sys) of every finished child process so far, helm grandchildren included."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# The baseline CI script: one `helm lint` of every chart, then the renders, `cores` at a time.
BASELINE = r"""set -euo pipefail
helm="$1" values="$2" cores="$3"; shift 3
"$helm" lint "$@" --values "$values" >/dev/null
for chart in "$@"; do printf '%s\n' "$chart"; done |
  xargs -P "$cores" -I{} sh -c \
    'n=$(basename "$1"); n=${n#*-}; "$2" template "$n" "$1" --namespace "$n" --values "$3" >/dev/null' \
    _ {} "$helm" "$values"
"""


def baseline(root: Path, charts: list[tuple[str, Path, str]]) -> float:
    helm = find_tool("helm")
    values = str(root / "envs" / "bench.yaml")
    argv = ["bash", "-c", BASELINE, "baseline", helm, values, str(os.cpu_count() or 2)]
    argv += [str(chart) for _, chart, _ in charts]
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, env=tool_env())
    return time.perf_counter() - start


def gripctl(root: Path) -> tuple[float, dict[str, object]]:
    argv = [sys.executable, "-m", "gripctl.cli.app", "--root", str(root), "validate", "-e", "bench"]
    argv += ["--format", "json"]
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env={**tool_env(), "GITHUB_ACTIONS": ""})
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        sys.exit(f"gripctl validate failed (exit {proc.returncode}):\n{proc.stderr}")
    report: dict[str, object] = json.loads(proc.stdout)
    return elapsed, report


def startup() -> float:
    """How long importing the CLI takes (part of the gripctl time above; shown, not subtracted)."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import gripctl.cli.app"], check=True, env=tool_env())
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--charts", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gripctl-bench-validate-") as tmp:
        root = Path(tmp)
        charts = build(root, args.charts)
        subprocess.run(["git", "init", "-q", str(root)], check=True)
        subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)
        cpu0 = children_cpu()
        base = baseline(root, charts)
        cpu1 = children_cpu()
        ours, report = gripctl(root)
        cpu2 = children_cpu()
        imports = startup()
    summary = report["summary"]
    print(f"charts: {args.charts}, cores: {os.cpu_count()}, load before: {os.getloadavg()[0]:.1f}")
    print(f"baseline (one helm lint of all charts + helm template, xargs -P {os.cpu_count()}): {base:6.2f}s")
    print(f"gripctl validate (all checks, one environment):    {ours:6.2f}s   findings: {summary}")
    print(f"  of which interpreter start + `import gripctl.cli.app`: {imports:6.2f}s")
    print(f"ratio gripctl/baseline: {ours / base:.2f}x")
    # On a busy machine every process competes for the cores, and wall time tends to the CPU ratio.
    base_cpu, ours_cpu = cpu1 - cpu0, cpu2 - cpu1
    print(f"cpu seconds: baseline {base_cpu:.2f}s, gripctl {ours_cpu:.2f}s ({ours_cpu / base_cpu:.2f}x)")


if __name__ == "__main__":
    main()
