"""The pinned Prometheus server (built without its web UI) starts, scrapes an exporter on loopback and
answers the HTTP query API; it reports the release its module version stands for."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from gripctl.adapters.toolchain import find_tool
from prometheus_server import running_prometheus

METRICS = b"# TYPE gripctl_smoke_answer gauge\ngripctl_smoke_answer 42\n"


def release_of(module_version: str) -> str:
    """Module v0.3XX.Y is Prometheus 3.XX.Y."""
    minor, patch = module_version.removeprefix("v0.").split(".")
    return f"{int(minor) // 100}.{int(minor) % 100}.{patch}"


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
    with running_prometheus(tmp_path, targets=[target]) as url:
        api = f"{url}/api/v1/query"
        deadline = time.monotonic() + 30
        while True:
            up = httpx.get(api, params={"query": f'up{{instance="{target}"}}'}, timeout=2).json()["data"]
            if (up["result"] and up["result"][0]["value"][1] == "1") or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        answer = httpx.get(api, params={"query": "gripctl_smoke_answer"}, timeout=2).json()["data"]
    assert up["result"], f"{target} was never scraped"
    assert up["result"][0]["metric"] == {"__name__": "up", "instance": target, "job": "test"}
    assert up["result"][0]["value"][1] == "1"
    assert [r["value"][1] for r in answer["result"]] == ["42"]
    assert "/metrics" in scraped
