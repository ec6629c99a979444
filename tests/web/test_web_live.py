"""The live event stream of a run, on the real server: a run another process records (the CLI) streams
event by event from the ledger, a client that reconnects with Last-Event-ID resumes after it, and the
stream ends when the run does. The run page and the run API show waves and release states."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx
from web_helpers import Server

from gripctl.ledger.types import RunKind, RunOutcome
from gripctl.service.workspace import ledger_of


def read_events(
    client: httpx.Client, url: str, stop_after: int, headers: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """The SSE `data:` documents of `url` until `stop_after` arrived or the stream ended."""
    out: list[dict[str, Any]] = []
    with client.stream("GET", url, headers=headers or {}) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith(
            "text/event-stream"
        )
        kind = ""
        for line in response.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                data = json.loads(line[6:])
                out.append({"event": kind, **data})
                if kind == "end" or len(out) >= stop_after:
                    break
    return out


def test_a_cli_run_streams_and_resumes(server: Server) -> None:
    ledger = ledger_of(server.root)
    run_id = ledger.start_run("staging", RunKind.deploy, "alice", None, None)
    ledger.event(run_id, "run-started", "deploy to staging", data={"releases": ["010-a", "020-b"]})
    ledger.event(run_id, "phase", "deploying", "010-a", {"phase": "deploying"})
    viewer = server.token("victor", "viewer")
    with server.client(viewer) as c:
        first = read_events(c, f"/api/v1/runs/{run_id}/events", stop_after=2)
        assert [e["kind"] for e in first] == ["run-started", "phase"]
        assert first[1]["release"] == "010-a" and first[1]["state"] == "deploying"

        def later() -> None:  # the other process goes on while we are away, then while we listen
            ledger.event(run_id, "phase", "healthy", "010-a", {"phase": "healthy"})
            time.sleep(0.5)
            ledger.event(
                run_id, "release-failed", "020-b: pod b-1 CrashLoopBackOff", "020-b", {"phase": "failed"}
            )
            ledger.event(run_id, "phase", "rolled back", "020-b", {"phase": "rolled-back"})
            ledger.finish_run(run_id, RunOutcome.rolled_back, "020-b failed")
            ledger.event(run_id, "run-finished", "run rolled_back", data={"outcome": "rolled_back"})

        writer = threading.Thread(target=later)
        writer.start()
        rest = read_events(c, f"/api/v1/runs/{run_id}/events", 100, {"last-event-id": str(first[-1]["id"])})
        writer.join()
    kinds = [(e["event"], e.get("release"), e.get("state")) for e in rest]
    assert kinds == [
        ("phase", "010-a", "healthy"),
        ("release-failed", "020-b", "failed"),
        ("phase", "020-b", "rolled-back"),
        ("run-finished", None, None),
        ("end", None, None),
    ], kinds
    ids = [e["id"] for e in rest if "id" in e]
    assert ids == sorted(ids) and ids[0] > first[-1]["id"]
    detail = server.api(viewer, "GET", f"/api/v1/runs/{run_id}").json()
    assert detail["waves"] == [["010-a", "020-b"]]
    assert detail["releases"]["010-a"]["state"] == "healthy"
    assert detail["releases"]["020-b"]["state"] == "rolled-back"
    assert "CrashLoopBackOff" in detail["releases"]["020-b"]["reason"]
    with server.client(viewer) as c:  # a finished run's stream replays it and ends
        replay = read_events(c, f"/api/v1/runs/{run_id}/events?after=0", 100)
    assert replay[-1]["event"] == "end" and len(replay) == 7


def test_runs_are_filtered_and_paged(server: Server) -> None:
    ledger = ledger_of(server.root)
    made = []
    for i in range(7):
        run_id = ledger.start_run(
            "production" if i % 2 else "staging", RunKind.deploy, f"user{i % 3}", None, None
        )
        ledger.finish_run(run_id, RunOutcome.failed if i == 3 else RunOutcome.succeeded)
        made.append(run_id)
    viewer = server.token("victor", "viewer")
    page1 = server.api(viewer, "GET", "/api/v1/runs", params={"limit": 3}).json()
    assert [r["id"] for r in page1["runs"]] == made[::-1][:3] and page1["next_before"] == made[4]
    page2 = server.api(
        viewer, "GET", "/api/v1/runs", params={"limit": 3, "before": page1["next_before"]}
    ).json()
    assert [r["id"] for r in page2["runs"]] == made[::-1][3:6]
    prod = server.api(viewer, "GET", "/api/v1/runs", params={"environment": "production"}).json()
    assert [r["id"] for r in prod["runs"]] == [made[5], made[3], made[1]] and prod["next_before"] is None
    failed = server.api(viewer, "GET", "/api/v1/runs", params={"outcome": "failed"}).json()
    assert [r["id"] for r in failed["runs"]] == [made[3]]
    mine = server.api(viewer, "GET", "/api/v1/runs", params={"actor": "user1"}).json()
    assert [r["id"] for r in mine["runs"]] == [made[4], made[1]]
    bad = server.api(viewer, "GET", "/api/v1/runs", params={"outcome": "exploded"})
    assert bad.status_code == 400 and "outcome" in bad.json()["message"]
    scoped = server.token("sam", "viewer", ("staging",))
    seen = server.api(scoped, "GET", "/api/v1/runs").json()
    assert {r["environment"] for r in seen["runs"]} == {"staging"}
    assert server.api(scoped, "GET", f"/api/v1/runs/{made[1]}").status_code == 403
    assert server.api(scoped, "GET", f"/api/v1/runs/{made[1]}/events").status_code == 403
