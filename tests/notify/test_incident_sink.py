"""The engine-to-incidents bridge: a run's events become notifications and, on failure, one incident
with the severity the rules give. Fed with the engine's own event types; a real ledger and receivers."""

from __future__ import annotations

from pathlib import Path

import pytest

from gripctl.engine.events import EngineEvent, EventKind, Phase
from gripctl.incidents import config as incidents_config
from gripctl.incidents.service import IncidentService, ledger_recorder
from gripctl.incidents.sink import IncidentSink
from gripctl.ledger import Ledger, open_ledger
from gripctl.notify import config as notify_config
from gripctl.notify.router import Notifier

from .conftest import HttpReceiver


def _sink(
    receiver: HttpReceiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, environment: str
) -> tuple[IncidentSink, Ledger]:
    monkeypatch.setenv("PD_KEY", "k")
    monkeypatch.setenv("SLACK_URL", f"{receiver.url}/slack")
    channels = {
        "pager": {"type": "pagerduty", "routing_key": "env:PD_KEY", "base_url": f"{receiver.url}/pd"},
        "slack": {"type": "slack", "webhook_url": "env:SLACK_URL"},
    }
    routes = [{"events": ["deploy.*"], "channels": ["slack"]}]
    ledger = open_ledger(f"sqlite:///{tmp_path}/ledger.sqlite")
    notifier = Notifier(
        notify_config.parse({"channels": channels, "routes": routes}, tmp_path),
        recorder=ledger_recorder(ledger),
        sleep=lambda s: None,
    )
    config = incidents_config.parse(
        {
            "escalation": [
                {"level": "on-call", "after": "10m", "notify": ["pager"]},
                {"level": "lead", "notify": ["slack"]},
            ]
        },
        channels,
    )
    run_id = ledger.start_run(environment, "deploy", "tester", None, None)  # the engine starts the run first
    return IncidentSink(IncidentService(ledger, config, notifier), environment, run_id=run_id), ledger


def _feed(sink: IncidentSink, release: str, phases: list[Phase], outcome: str) -> None:
    run = sink.run_id
    sink.handle(EngineEvent(EventKind.run_started, "deploy to production: plan abc", run_id=run))
    for phase in phases:
        kind = EventKind.release_failed if phase is Phase.failed else EventKind.phase
        sink.handle(EngineEvent(kind, f"{release} {phase}", release_id=release, phase=phase, run_id=run))
    sink.handle(
        EngineEvent(EventKind.run_finished, f"run {run} {outcome}", run_id=run, data={"outcome": outcome})
    )
    sink.close()


def test_clean_rollback_in_production_opens_p1_and_pages(
    http_receiver: HttpReceiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink, ledger = _sink(http_receiver, tmp_path, monkeypatch, "production")
    _feed(
        sink,
        "060-grafana-stack",
        [Phase.deploying, Phase.verifying, Phase.failed, Phase.rolling_back, Phase.rolled_back],
        "rolled_back",
    )
    (incident,) = ledger.incidents()
    assert (
        incident.severity == "P1"
        and incident.run_id == sink.run_id
        and incident.release_id == "060-grafana-stack"
    )
    assert "rolled back" in incident.title
    slack = [r.json() for r in http_receiver.requests if r.path == "/slack"]
    assert [m["text"].split(" (")[0] for m in slack] == [
        "deploy to production started",
        "[P1] deploy to production rolled back: 060-grafana-stack",
    ]
    pd = [r.json() for r in http_receiver.requests if r.path == "/pd/v2/enqueue"]
    assert pd[0]["event_action"] == "trigger" and pd[0]["dedup_key"] == f"gripctl/incident/{incident.id}"


def test_failed_rollback_in_production_is_p0(
    http_receiver: HttpReceiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink, ledger = _sink(http_receiver, tmp_path, monkeypatch, "production")
    _feed(
        sink,
        "030-ingress-controllers",
        [Phase.deploying, Phase.failed, Phase.rolling_back, Phase.failed],
        "failed",
    )
    (incident,) = ledger.incidents()
    assert incident.severity == "P0"


def test_staging_failure_is_p2_and_success_opens_nothing(
    http_receiver: HttpReceiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink, ledger = _sink(http_receiver, tmp_path, monkeypatch, "staging")
    _feed(sink, "950-example-services", [Phase.deploying, Phase.failed], "failed")
    assert [i.severity for i in ledger.incidents()] == ["P2"]

    ok_sink, ok_ledger = (
        _sink(http_receiver, tmp_path / "ok", monkeypatch, "staging")
        if (tmp_path / "ok").mkdir() is None
        else (None, None)
    )
    assert ok_sink is not None and ok_ledger is not None
    _feed(ok_sink, "950-example-services", [Phase.deploying, Phase.verifying, Phase.healthy], "succeeded")
    assert ok_ledger.incidents() == []
    assert http_receiver.requests[-1].json()["text"].startswith("deploy to staging succeeded")


def test_recovery_of_a_stuck_release_opens_an_incident(
    http_receiver: HttpReceiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink, ledger = _sink(http_receiver, tmp_path, monkeypatch, "production")
    sink.handle(
        EngineEvent(
            EventKind.recovered,
            "recovered after run 3: rolled back to revision 4 (was pending-upgrade)",
            release_id="030-ingress-controllers",
            run_id=sink.run_id,
        )
    )
    sink.close()
    (incident,) = ledger.incidents()
    assert incident.severity == "P1" and incident.release_id == "030-ingress-controllers"
    assert "left stuck by a crash" in incident.title
    opened = ledger.incident(incident.id)
    assert opened is not None and opened.events[0].message.startswith("recovery.stuck_release")
