"""A real Prometheus server on loopback for tests (the `prometheus` binary of the pinned toolchain).

`prometheus_server` starts one per test module that asks for it, scraping itself every second, with its
storage in a temporary folder; tests that need it skip with a clear reason when the binary is absent.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import pytest

from gripctl.adapters.toolchain import find_tool
from gripctl.errors import ToolMissingError


def prometheus_binary() -> str | None:
    """The toolchain's `prometheus` (found the way gripctl finds every tool), else None."""
    try:
        return find_tool("prometheus")
    except ToolMissingError:
        return None


needs_prometheus = pytest.mark.skipif(
    prometheus_binary() is None,
    reason="no `prometheus` binary in the toolchain or on PATH (the pinned toolchain builds it: make setup)",
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def running_prometheus(folder: Path, targets: Sequence[str] = ()) -> Iterator[str]:
    """A Prometheus scraping itself and `targets` (host:port) every second; its URL once it has scraped
    itself twice. Stopped on exit."""
    binary = prometheus_binary()
    if binary is None:
        pytest.skip("no `prometheus` binary in the toolchain or on PATH (make setup builds it)")
    port = free_port()
    config = folder / "prometheus.yml"
    # Itself as job `self` (the tests query up{job="self"}), the given targets as job `test`.
    jobs = {"self": [f"127.0.0.1:{port}"], **({"test": list(targets)} if targets else {})}
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        + "".join(
            f"  - job_name: {job}\n    static_configs: [{{targets: [{', '.join(map(repr, hosts))}]}}]\n"
            for job, hosts in jobs.items()
        )
    )
    log = (folder / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"prometheus exited with {process.returncode}: {(folder / 'prometheus.log').read_text()}"
                )
            try:
                answer = httpx.get(
                    f"{url}/api/v1/query",
                    params={"query": f'count_over_time(up{{instance="127.0.0.1:{port}"}}[1m])'},
                    timeout=2,
                )
                result = answer.json()["data"]["result"]
                if result and float(result[0]["value"][1]) >= 2:
                    break
            except (httpx.HTTPError, KeyError, ValueError):
                pass
            if time.monotonic() > deadline:
                pytest.fail("prometheus did not scrape itself within 60s")
            time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture(scope="module")
def prometheus_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a running Prometheus that has scraped itself at least twice."""
    with running_prometheus(tmp_path_factory.mktemp("prometheus")) as url:
        yield url
