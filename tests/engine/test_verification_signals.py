"""Verification that watches what users feel: Prometheus queries during the monitoring window, an
unreachable Prometheus (fail, or warn), and cert-manager Certificates that must be Ready.

Real parts: the sandbox, the pinned `prometheus` binary scraping a tiny exporter that this test runs
on loopback (its error counter raised mid-window), helm, the engine.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from engine_platforms import SynthPlatform

from gripctl.adapters import helm
from gripctl.adapters.helm import KubeTarget
from gripctl.adapters.sandbox import SandboxInfo
from gripctl.adapters.toolchain import find_tool
from gripctl.engine.events import EngineEvent, Phase
from gripctl.ledger import open_ledger
from gripctl.ledger.types import RunOutcome
from gripctl.service.deploy import Deployment, DeployRequest, deploy
from prometheus_server import free_port, needs_prometheus, running_prometheus

pytestmark = pytest.mark.cluster


class Exporter:
    """`/metrics` with one counter the test sets: app_errors_total."""

    def __init__(self) -> None:
        self.errors = 0
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = f"# TYPE app_errors_total counter\napp_errors_total {exporter.errors}\n".encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def exporter() -> Iterator[Exporter]:
    e = Exporter()
    try:
        yield e
    finally:
        e.close()


ERRORS = {"prometheus": [{"query": "max(app_errors_total)", "max": 0, "for": "2s", "name": "app errors"}]}


class OnMonitoring:
    """Calls `then` once, when the release starts its monitoring window."""

    def __init__(self, then: Callable[[], None]) -> None:
        self.then, self.done = then, False
        self.started_at: float | None = None

    def handle(self, event: EngineEvent) -> None:
        if event.phase is Phase.monitoring and not self.done:
            self.done, self.started_at = True, event.ts
            self.then()

    def close(self) -> None:
        pass


async def run(sp: SynthPlatform, **kw: Any) -> Deployment:
    return await deploy(DeployRequest(root=sp.root, environment=sp.environment, **kw))


@needs_prometheus
async def test_errors_during_the_monitoring_window_roll_the_release_back(
    synth: Callable[..., SynthPlatform], exporter: Exporter, tmp_path: Path, kube_target: KubeTarget
) -> None:
    folder = tmp_path / "prometheus"
    folder.mkdir()
    with running_prometheus(folder, [exporter.address]) as url:
        sp = synth(
            {"010-a": []},
            release_extra={"010-a": {"health": ERRORS}},
            environment_extra={"prometheus": {"url": url}},
        )
        first = await run(sp, monitor_seconds=0)
        assert first.result.outcome is RunOutcome.succeeded, first.result.summary()

        sp.set_values("010-a", version="v2")
        watcher = OnMonitoring(lambda: setattr(exporter, "errors", 3))
        second = await run(sp, monitor_seconds=60, sinks=[watcher])
    a = second.result.releases["010-a"]
    assert watcher.done, "the monitoring window never started"
    assert a.phase is Phase.rolled_back, a.reason
    assert "during the monitoring window" in a.reason and "query app errors = 3, above max 0" in a.reason
    assert url in a.reason
    # The breach ended the 60 s window early: the failure came well before the window's end.
    assert watcher.started_at is not None and a.failed_at is not None
    assert a.failed_at - watcher.started_at < 50, (watcher.started_at, a.failed_at)
    entries = await helm.history("a", sp.namespace, kube_target)
    manifest = await helm.get_manifest("a", sp.namespace, kube_target)
    assert entries[-1].status == "deployed" and "registry.local/app:v1" in manifest  # back on v1


async def test_an_unreachable_prometheus_fails_the_check_or_warns(
    synth: Callable[..., SynthPlatform], kube_target: KubeTarget
) -> None:
    nobody = f"http://127.0.0.1:{free_port()}"
    sp = synth(
        {"010-a": []},
        release_extra={"010-a": {"health": ERRORS}},
        environment_extra={"prometheus": {"url": nobody, "timeout": "1s"}},
    )
    failed = await run(sp)
    a = failed.result.releases["010-a"]
    assert a.phase is Phase.uninstalled, a.reason  # a failed first install is undone
    assert "health query 'app errors' not checked" in a.reason and f"Prometheus at {nobody}" in a.reason
    assert await helm.history("a", sp.namespace, kube_target) == []

    config = (sp.root / "gripctl.yaml").read_text()
    warn = f"      url: {nobody}\n      on_unreachable: warn"
    (sp.root / "gripctl.yaml").write_text(config.replace(f"      url: {nobody}", warn))
    warned = await run(sp)
    assert warned.result.releases["010-a"].phase is Phase.healthy
    ledger = open_ledger(f"sqlite:///{sp.root / '.gripctl' / 'ledger.sqlite'}")
    record = ledger.run(warned.result.run_id)
    assert record is not None
    assert any("health queries skipped (on_unreachable: warn)" in e.message for e in record.events)


CERTIFICATE_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "certificates.cert-manager.io"},
    "spec": {
        "group": "cert-manager.io",
        "scope": "Namespaced",
        "names": {"plural": "certificates", "singular": "certificate", "kind": "Certificate"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                },
            }
        ],
    },
}
CERTIFICATE = """\
apiVersion: cert-manager.io/v1
kind: Certificate
metadata:
  name: {{ .Release.Name }}-tls
spec:
  secretName: {{ .Release.Name }}-tls
  dnsNames: [example.test]
"""


def kubectl(sandbox: SandboxInfo, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [find_tool("kubectl"), "--kubeconfig", str(sandbox.kubeconfig), "--context", sandbox.context, *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def certificates(sandbox: SandboxInfo) -> None:
    """cert-manager's Certificate kind (its schema trimmed), on the shared sandbox (left there: other
    tests may be using it)."""
    kubectl(sandbox, "apply", "-f", "-", stdin=json.dumps(CERTIFICATE_CRD))
    kubectl(
        sandbox, "wait", "--for=condition=Established", "crd/certificates.cert-manager.io", "--timeout=30s"
    )


async def test_a_release_verifies_once_its_certificates_are_ready(
    synth: Callable[..., SynthPlatform], sandbox: SandboxInfo, certificates: None
) -> None:
    sp = synth({"010-a": []}, timeout="30s")
    (sp.root / "ops" / "helm" / "010-a" / "templates" / "certificate.yaml").write_text(CERTIFICATE)
    seen: list[EngineEvent] = []

    class Record:
        def handle(self, event: EngineEvent) -> None:
            seen.append(event)

        def close(self) -> None:
            pass

    running = asyncio.create_task(run(sp, sinks=[Record()]))
    for _ in range(300):  # until verification says it waits for the Certificate
        if any("Certificate/a-tls: not Ready" in e.message for e in seen) or running.done():
            break
        await asyncio.sleep(0.1)
    assert not running.done(), "the release verified without its Certificate being Ready"
    patch = {"status": {"conditions": [{"type": "Ready", "status": "True", "reason": "Ready"}]}}
    kubectl(sandbox, "-n", sp.namespace, "patch", "certificate", "a-tls", "--subresource=status",
            "--type=merge", "-p", json.dumps(patch))  # fmt: skip
    deployment = await running
    a = deployment.result.releases["010-a"]
    assert a.phase is Phase.healthy, a.reason


async def test_a_certificate_that_never_becomes_ready_fails_the_release(
    synth: Callable[..., SynthPlatform], kube_target: KubeTarget, certificates: None
) -> None:
    sp = synth({"010-a": []}, timeout="8s")
    (sp.root / "ops" / "helm" / "010-a" / "templates" / "certificate.yaml").write_text(CERTIFICATE)
    stuck = await run(sp)
    a = stuck.result.releases["010-a"]
    assert a.phase is Phase.uninstalled, a.reason
    assert "timed out after 8s: Certificate/a-tls: not Ready" in a.reason
    assert await helm.history("a", sp.namespace, kube_target) == []
