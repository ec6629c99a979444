"""Benchmark: the server with one million deploys in the ledger, on SQLite and on PostgreSQL.

Loads the metrics benchmark's synthetic history (bench/metrics.py: 1,000,000 deploy runs over 20
environments and three years, ~1.5 commits per run, 1% linked to an incident), moved so that it ends
now, plus what the pages show besides (release actions and timelines of the latest runs, pending plans,
tokens, audit entries). Then serves it with `gripctl serve`'s app on loopback and requests every
dashboard page and API list endpoint, reading the server's own time from its `Server-Timing` header.
Target: p95 under 200 ms each. Last, a browser (chromium) follows a run's page while the engine's
emitter sends events: the time from an event's emission to its arrival in the page. Target: under
100 ms.

    make bench-serve                               (both databases; PostgreSQL from scripts/postgres.sh)
    .venv/bin/python bench/serve.py --runs 100000 --backend sqlite
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml

from gripctl.engine.events import Emitter, EventKind, EventSink, Phase
from gripctl.engine.record import LedgerSink
from gripctl.ledger import Ledger, open_ledger
from gripctl.ledger.testing import POSTGRES_URL_ENV, postgres_schema_url
from gripctl.ledger.types import ActionKind, ActionOutcome, RunKind, RunOutcome, TokenRole
from gripctl.service.access import TokenRequest, create_token
from gripctl.service.workspace import close_ledgers

HERE = Path(__file__).resolve().parent
REQUESTS = 40  # per endpoint, after 3 warm-up requests
TARGET_MS = 200.0
SSE_TARGET_MS = 100.0
RELEASES = ["010-ingress", "020-cert-manager", "030-monitoring", "040-app"]


def _history_module() -> Any:
    spec = importlib.util.spec_from_file_location("bench_metrics", HERE / "metrics.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    # The history ends now, so that the default windows (90 days, 12 weeks) hold data.
    module.END = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    return module


def platform(root: Path, environments: Sequence[str]) -> Path:
    """A platform repository with the benchmark's environments and four small charts."""
    for rid in RELEASES:
        chart = root / "ops" / "helm" / rid
        (chart / "templates").mkdir(parents=True)
        (chart / "Chart.yaml").write_text(
            yaml.safe_dump({"apiVersion": "v2", "name": rid[4:], "version": "1.0.0"})
        )
        (chart / "templates" / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    envs: dict[str, Any] = {e: {"context": "bench-no-cluster"} for e in environments}
    envs[environments[0]].update(approval="required", approvers=["bob", "carol"])
    config = {
        "apiVersion": "gripctl/v1",
        "releases": {rid: {"needs": [RELEASES[0]]} for rid in RELEASES[1:]},
        "environments": envs,
    }
    (root / "gripctl.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return root


def extras(ledger: Ledger, environments: Sequence[str]) -> dict[str, Any]:
    """Release actions and timelines for the newest runs of each environment, pending plans, tokens and
    audit entries: what the pages read besides the bulk history."""
    out: dict[str, Any] = {}
    latest = ledger.runs(limit=200)
    for run in latest:
        for rid in RELEASES:
            action = ledger.begin_action(run.id, rid, ActionKind.upgrade, 3, "1.0.0")
            ledger.finish_action(action, ActionOutcome.succeeded, 4)
            ledger.event(run.id, "phase", "healthy", rid, {"phase": "healthy"})
        ledger.event(run.id, "run-finished", "done", None, {"outcome": run.outcome.value})
    out["run"] = latest[0].id
    body = {
        "format": "gripctl/plan-v1", "has_changes": True, "waves": [RELEASES[:1], RELEASES[1:]],
        "releases": [
            {"release_id": rid, "action": "upgrade", "namespace": "ns", "helm_name": rid[4:],
             "reason": "chart",
             "changes": [{"kind": "apps/Deployment", "namespace": "ns", "name": rid[4:], "change": "changed",
                          "diff": "-  image: app:1\n+  image: app:2"}]}
            for rid in RELEASES
        ],
    }  # fmt: skip
    for i in range(20):
        digest = f"{i:02x}" + "ab" * 31
        ledger.save_plan(digest, environments[0], body, None, requested_by="alice")
        ledger.record_audit("alice", "10.0.0.1", "deploy.request", digest, {"environment": environments[0]})
    out["plan"] = ("00" + "ab" * 31)[:12]
    for i in range(300):
        ledger.record_audit("bob", "10.0.0.2", "approve", f"{i:064x}", {"method": "token"})
    out["incident"] = ledger.incidents(limit=1)[0].id
    return out


@contextmanager
def server(root: Path, url: str) -> Iterator[tuple[str, Any]]:
    import uvicorn

    from gripctl.web.app import ServerConfig, create_app

    os.environ["GRIPCTL_DATABASE_URL"] = url
    app = create_app(ServerConfig(root=root, status_every=3600, worker=False))
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    while not srv.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        srv.should_exit = True
        thread.join(30)
        close_ledgers()
        del os.environ["GRIPCTL_DATABASE_URL"]


def server_ms(response: httpx.Response) -> float:
    timing = response.headers["server-timing"]
    return float(timing.split("dur=")[1])


def endpoints(env: str, ids: dict[str, Any], before: int) -> list[tuple[str, str]]:
    plan, run, incident = ids["plan"], ids["run"], ids["incident"]
    return [
        ("page", "/"),
        ("page", "/runs"),
        ("page", f"/runs?environment={env}&outcome=failed"),
        ("page", f"/runs/{run}"),
        ("page", "/approvals"),
        ("page", f"/plans/{plan}"),
        ("page", "/dora"),
        ("page", f"/dora/{env}/failures"),
        ("page", "/incidents"),
        ("page", f"/incidents/{incident}"),
        ("page", "/admin/audit"),
        ("page", "/admin/tokens"),
        ("api", "/api/v1/runs"),
        ("api", f"/api/v1/runs?environment={env}"),
        ("api", "/api/v1/runs?outcome=refused"),
        ("api", f"/api/v1/runs?before={before}"),
        ("api", f"/api/v1/runs/{run}"),
        ("api", "/api/v1/plans"),
        ("api", "/api/v1/incidents"),
        ("api", "/api/v1/incidents?status=open"),
        ("api", "/api/v1/audit"),
        ("api", "/api/v1/tokens"),
        ("api", "/api/v1/environments"),
        ("api", f"/api/v1/environments/{env}/releases"),
        ("api", "/api/v1/metrics/dora"),
        ("api", "/api/v1/metrics/trends"),
        ("api", f"/api/v1/metrics/failed-changes?environment={env}"),
    ]


def measure(label: str, base: str, token: str, ids: dict[str, Any], env: str, before: int) -> list[float]:
    worst = []
    with httpx.Client(base_url=base, headers={"authorization": f"Bearer {token}"}, timeout=120) as c:
        for kind, path in endpoints(env, ids, before):
            first = c.get(path)
            assert first.status_code == 200, (path, first.status_code, first.text[:300])
            cold = server_ms(first)
            for _ in range(2):
                c.get(path)
            times = sorted(server_ms(c.get(path)) for _ in range(REQUESTS))
            p50 = statistics.median(times)
            p95 = times[int(0.95 * len(times)) - 1]
            worst.append(p95)
            verdict = "ok" if p95 < TARGET_MS else "OVER"
            print(
                f"  {label:<10} {kind:<4} {path:<48} p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  "
                f"(first {cold:7.1f} ms)  {verdict}",
                flush=True,
            )
    return worst


def sse_latency(label: str, base: str, app: Any, token: str, root: Path, env: str, events: int = 60) -> float:
    """An engine emitter in the server process (as a server-started run has), a browser on the run's
    page: milliseconds from each event's emission to its arrival in the page."""
    from playwright.sync_api import sync_playwright

    st = app.state.gripctl
    ledger = open_ledger(root=root)
    ready = threading.Event()
    emitted: dict[int, float] = {}
    run_box: dict[str, int] = {}

    async def work(sinks: Sequence[EventSink]) -> None:
        emitter = Emitter([LedgerSink(ledger), *sinks])
        run_id = ledger.start_run(env, RunKind.deploy, "bench", None, None)
        emitter.run_id = run_id
        run_box["id"] = run_id
        emitter.emit(EventKind.run_started, "bench run", releases=RELEASES)
        await asyncio.to_thread(ready.wait, 60)
        for i in range(events):
            rid = RELEASES[i % len(RELEASES)]
            phase = (Phase.deploying, Phase.verifying, Phase.healthy)[i % 3]
            event = emitter.emit(EventKind.phase, f"step {i}", release_id=rid, phase=phase)
            emitted[i] = event.ts
            await asyncio.sleep(0.1)
        ledger.finish_run(run_id, RunOutcome.succeeded)
        emitter.emit(EventKind.run_finished, "done", outcome="succeeded")

    future = st.runner.start(work, "bench-sse")
    run_id = future.result(timeout=60)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=os.environ.get("GRIPCTL_CHROMIUM", "/usr/bin/chromium"),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
        )
        page = browser.new_page()
        page.goto(f"{base}/login")
        page.fill("#token", token)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/")
        page.goto(f"{base}/runs/{run_id}")
        page.wait_for_function("() => document.getElementById('run').dataset.streaming === 'open'")
        time.sleep(0.5)
        ready.set()
        page.wait_for_function(
            "() => document.getElementById('run').dataset.live === 'false'", timeout=120_000
        )
        received = page.evaluate("window.gripctlReceived")
        browser.close()
    events_by_id = {e.id: e for e in ledger.run_events(run_id)}
    steps = {e.id: int(e.message.split()[1]) for e in events_by_id.values() if e.message.startswith("step ")}
    lat = sorted(at - emitted[steps[i]] * 1000 for i, at in received if i in steps)
    ledger.close()
    assert len(lat) == events, (len(lat), events)
    p50, p95 = statistics.median(lat), lat[int(0.95 * len(lat)) - 1]
    verdict = "ok" if p95 < SSE_TARGET_MS else "OVER"
    print(
        f"  {label:<10} SSE engine event -> browser: p50 {p50:5.1f} ms  p95 {p95:5.1f} ms  "
        f"max {lat[-1]:5.1f} ms  ({len(lat)} events)  {verdict}",
        flush=True,
    )
    return p95


def bench(label: str, url: str, n_runs: int, loader: Callable[[Ledger, int], None], history: Any) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = platform(Path(tmp) / "platform", history.ENVIRONMENTS)
        with open_ledger(url) as ledger:
            started = time.perf_counter()
            loader(ledger, n_runs)
            ids = extras(ledger, history.ENVIRONMENTS)
            before = ledger.runs(limit=1)[0].id - n_runs // 2
            print(
                f"  {label:<10} loaded {n_runs:,} deploys in {time.perf_counter() - started:.1f} s",
                flush=True,
            )
        os.environ["GRIPCTL_DATABASE_URL"] = url
        token = create_token(TokenRequest(root, "bench", TokenRole.admin, (), None, "bench")).token
        env = history.ENVIRONMENTS[0]
        with server(root, url) as (base, app):
            worst = measure(label, base, token, ids, env, before)
            print(
                f"  {label:<10} slowest p95 of {len(worst)} endpoints: {max(worst):.1f} ms "
                f"(target {TARGET_MS:.0f} ms)",
                flush=True,
            )
            sse_latency(label, base, app, token, root, env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    history = _history_module()
    print(f"gripctl serve over {args.runs:,} deploy runs, {len(history.ENVIRONMENTS)} environments")
    print(f"  load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", flush=True)
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            bench(
                "sqlite", f"sqlite:///{Path(tmp) / 'ledger.sqlite'}", args.runs, history.load_sqlite, history
            )
    if args.backend in ("postgresql", "both"):
        base = os.environ.get(POSTGRES_URL_ENV)
        if not base:
            print(f"  postgresql skipped: {POSTGRES_URL_ENV} is not set (run via `make bench-serve`)")
            return
        with postgres_schema_url(base, prefix="bench") as url:
            bench("postgresql", url, args.runs, history.load_postgres, history)
    print(f"  load average at end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    sys.exit(main())
