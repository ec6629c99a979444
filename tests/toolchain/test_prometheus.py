"""The pinned Prometheus server (built without its web UI) starts, scrapes an exporter on loopback and
answers the HTTP query API; it reports the release its module version stands for."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from gripctl.adapters.toolchain import find_tool

METRICS = b"# TYPE gripctl_smoke_answer gauge\ngripctl_smoke_answer 42\n"


def release_of(module_version: str) -> str:
    """Module v0.3XX.Y is Prometheus 3.XX.Y."""
    minor, patch = module_version.removeprefix("v0.").split(".")
    return f"{int(minor) // 100}.{int(minor) % 100}.{patch}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def exporter() -> Iterator[tuple[str, list[str]]]:
    """A loopback /metrics endpoint; yields its host:port and the paths scraped so far."""
    scraped: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            scraped.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(METRICS)))
            self.end_headers()
            self.wfile.write(METRICS)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}", scraped
    finally:
        server.shutdown()
        server.server_close()


def test_prometheus_reports_the_pinned_release(pins: dict[str, str]) -> None:
    out = subprocess.run(
        [find_tool("prometheus"), "--version"], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    assert out.startswith(f"prometheus, version {release_of(pins['PROMETHEUS_VERSION'])} ")


def test_prometheus_scrapes_a_loopback_exporter_and_answers_a_query(
    exporter: tuple[str, list[str]], tmp_path: Path
) -> None:
    target, scraped = exporter
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n"
        f"scrape_configs:\n  - job_name: smoke\n    static_configs:\n      - targets: ['{target}']\n"
    )
    port = free_port()
    log = tmp_path / "prometheus.log"
    with log.open("wb") as log_file:
        proc = subprocess.Popen(
            [
                find_tool("prometheus"),
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    api = f"http://127.0.0.1:{port}/api/v1/query"
    up: list[dict[str, object]] = []
    answer: list[dict[str, object]] = []
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                up = httpx.get(api, params={"query": 'up{job="smoke"}'}, timeout=2).json()["data"]["result"]
            except httpx.TransportError:  # not listening yet
                up = []
            if up and up[0]["value"][1] == "1":
                break
            time.sleep(0.2)
        answer = httpx.get(api, params={"query": "gripctl_smoke_answer"}, timeout=2).json()["data"]["result"]
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    assert up and up[0]["value"][1] == "1", f"target never up; prometheus log:\n{log.read_text()[-3000:]}"
    assert up[0]["metric"] == {"__name__": "up", "instance": target, "job": "smoke"}
    assert answer[0]["value"][1] == "42"
    assert "/metrics" in scraped
