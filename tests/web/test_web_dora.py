"""The DORA page and API show the same figures as `gripctl metrics -o json` for the same ledger, with
the DORA 2023 bands, weekly trends, and the click-through from the change failure rate to the failed
deploys and the incidents they caused."""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from web_helpers import Server

from gripctl.ledger.testing import Clock
from gripctl.ledger.types import CommitInfo, IncidentStatus, RunKind, RunOutcome, Severity
from gripctl.service.metrics import band
from gripctl.service.workspace import ledger_of


def history(root: Path) -> dict[str, list[int]]:
    """Five weeks of deploys to two environments: some fail, one success is linked to an incident."""
    ledger = ledger_of(root)
    now = datetime.now(UTC)
    clock = Clock(now - timedelta(days=35))
    ledger.clock = clock
    runs: dict[str, list[int]] = {"failed": [], "linked": []}
    sha = 0
    for day in range(35):
        for env in ("staging", "production"):
            if env == "production" and day % 3:
                continue
            clock.now = now - timedelta(days=35 - day, hours=2)
            sha += 1
            run_id = ledger.start_run(env, RunKind.deploy, "alice", f"{sha:040x}", None)
            ledger.record_commits(
                run_id, [CommitInfo(f"{sha:040x}", clock.now - timedelta(hours=5 + day % 4), "dev", "change")]
            )
            clock.advance(300)
            outcome = (
                RunOutcome.rolled_back if env == "production" and day in (6, 21) else RunOutcome.succeeded
            )
            ledger.finish_run(
                run_id, outcome, "020-b failed" if outcome is not RunOutcome.succeeded else None
            )
            if outcome is not RunOutcome.succeeded:
                runs["failed"].append(run_id)
                incident = ledger.open_incident(
                    env, f"deploy {run_id} rolled back", Severity.P1, run_id=run_id
                )
                clock.advance(1800)
                ledger.update_incident(incident, status=IncidentStatus.resolved, rca="bad chart")
            if env == "production" and day == 12:
                runs["linked"].append(run_id)
                ledger.open_incident(env, "latency after deploy", Severity.P2, run_id=run_id)
    ledger.clock = lambda: datetime.now(UTC)
    return runs


def test_dora_page_and_api_match_the_cli(server: Server) -> None:
    made = history(server.root)
    viewer = server.token("victor", "viewer")
    cli = subprocess.run(
        [sys.executable, "-m", "gripctl.cli.app", "-C", str(server.root), "-o", "json", "metrics"],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    expected = {e["environment"]: e for e in json.loads(cli.stdout)["environments"]}
    assert set(expected) == {"staging", "production"}
    api = server.api(viewer, "GET", "/api/v1/metrics/dora").json()
    got = {e["environment"]: e for e in api["environments"]}
    keys = (
        "deploys", "deploys_per_day", "lead_time_seconds", "change_failure_rate", "failed_deploys",
        "finished_deploys", "time_to_restore_seconds", "recovery_seconds", "incidents_resolved",
    )  # fmt: skip
    for env, want in expected.items():
        for key in keys:
            assert got[env][key] == want[key], (env, key)
        assert got[env]["bands"]["change_failure_rate"] == band(
            "change_failure_rate", want["change_failure_rate"]
        )
    prod = expected["production"]
    assert prod["failed_deploys"] == 3 and prod["finished_deploys"] == 12  # 2 rolled back + 1 linked
    # The page shows the same figures (data-value carries the number the text renders).
    with server.client(viewer) as c:
        html = c.get("/dora").text
    for env, want in expected.items():
        section = html.split(f'id="dora-{env}"')[1].split("</article>")[0]
        values = dict(re.findall(r'data-key="(\w+)">.*?data-value="([^"]*)"', section, flags=re.S))
        assert (
            values["deployment_frequency"]
            and float(values["deployment_frequency"]) == want["deploys_per_day"]
        )
        assert float(values["change_failure_rate"]) == want["change_failure_rate"]
        assert float(values["lead_time"]) == want["lead_time_seconds"]
        assert section.count("<svg") == 4  # a weekly trend per key, drawn on the server
    assert 'href="/dora/production/failures"' in html
    assert "unsafe" not in html and "<script>" not in html
    # Click through from the change failure rate to the failed deploys and their incidents.
    failures = server.api(
        viewer, "GET", "/api/v1/metrics/failed-changes", params={"environment": "production"}
    ).json()
    listed = {c["run_id"]: c for c in failures["changes"]}
    assert set(listed) == set(made["failed"] + made["linked"])
    assert all(len(listed[r]["incidents"]) == 1 for r in listed)
    with server.client(viewer) as c:
        page = c.get("/dora/production/failures").text
    for run_id in listed:
        assert f'href="/runs/{run_id}"' in page
    assert "latency after deploy" in page


def test_weekly_trends(server: Server) -> None:
    history(server.root)
    viewer = server.token("victor", "viewer")
    trends = server.api(viewer, "GET", "/api/v1/metrics/trends", params={"weeks": 6}).json()
    assert trends["weeks"] == 6 and set(trends["environments"]) == {"staging", "production"}
    staging = trends["environments"]["staging"]
    assert len(staging) == 6
    assert sum(p["deploys"] for p in staging) == 35  # every staging deploy falls in one of the weeks
    starts = [datetime.fromisoformat(p["week_start"]) for p in staging]
    assert all(b - a == timedelta(days=7) for a, b in itertools.pairwise(starts))
    prod = trends["environments"]["production"]
    failing_weeks = [p for p in prod if p["change_failure_rate"]]
    assert failing_weeks and all(0 < p["change_failure_rate"] <= 1 for p in failing_weeks)


def test_bands_follow_the_2023_report() -> None:
    assert [band("deployment_frequency", x) for x in (3.0, 0.5, 0.05, 0.01)] == [
        "elite",
        "high",
        "medium",
        "low",
    ]
    assert [band("lead_time", x) for x in (3600, 3 * 86400, 20 * 86400, 90 * 86400)] == [
        "elite",
        "high",
        "medium",
        "low",
    ]
    assert [band("change_failure_rate", x) for x in (0.04, 0.08, 0.15, 0.4)] == [
        "elite",
        "high",
        "medium",
        "low",
    ]
    assert [band("recovery_time", x) for x in (600, 7200, 3 * 86400, 30 * 86400)] == [
        "elite",
        "high",
        "medium",
        "low",
    ]
    assert band("lead_time", None) is None
