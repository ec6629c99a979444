"""Incidents end to end on a real ledger (SQLite) and loopback receivers: severity by rules,
notification of level 0, escalation when not acknowledged, acknowledgement, resolution."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gripctl.errors import ConfigError, UsageError
from gripctl.incidents import config as incidents_config
from gripctl.incidents.config import Cause
from gripctl.incidents.service import IncidentService, ledger_recorder
from gripctl.ledger import IncidentStatus, Ledger, open_ledger
from gripctl.notify import config as notify_config
from gripctl.notify.router import Notifier

from .conftest import HttpReceiver


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return open_ledger(f"sqlite:///{tmp_path}/ledger.sqlite")


def _service(
    receiver: HttpReceiver, ledger: Ledger, tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> IncidentService:
    monkeypatch.setenv("PD_KEY", "oncall-routing-key")
    monkeypatch.setenv("SLACK_URL", f"{receiver.url}/slack")
    monkeypatch.setenv("LEAD_URL", f"{receiver.url}/lead")
    monkeypatch.setenv("HOOK_SECRET", "k")
    channels = {
        "pager": {"type": "pagerduty", "routing_key": "env:PD_KEY", "base_url": f"{receiver.url}/pd"},
        "slack": {"type": "slack", "webhook_url": "env:SLACK_URL"},
        "lead": {"type": "webhook", "url": "env:LEAD_URL", "secret": "env:HOOK_SECRET"},
    }
    notify = notify_config.parse(
        {"channels": channels, "routes": [{"events": ["incident.*"], "channels": ["slack"]}]}, tmp_path
    )
    escalation = [
        {"level": "on-call", "after": "15m", "notify": ["pager"]},
        {"level": "infrastructure-lead", "after": "30m", "notify": ["lead"]},
        {"level": "cto", "notify": ["lead"]},
    ]
    incidents = incidents_config.parse({"escalation": escalation}, channels)
    notifier = Notifier(notify, recorder=ledger_recorder(ledger), sleep=lambda s: None)
    ledger.clock = clock
    return IncidentService(ledger, incidents, notifier, clock=clock)


@pytest.mark.parametrize(
    ("environment", "cause", "severity"),
    [
        ("production", Cause.rollback_failed, "P0"),
        ("production", Cause.deploy_rolled_back, "P1"),
        ("staging", Cause.deploy_failed, "P2"),
        ("development", Cause.deploy_failed, "P3"),
    ],
)
def test_default_severity_rules(environment: str, cause: Cause, severity: str) -> None:
    assert incidents_config.IncidentsConfig().severity_for(environment, cause) == severity


def test_configured_rules_win_in_order() -> None:
    config = incidents_config.parse(
        {
            "severity": [{"environment": "prod-*", "cause": "deploy.*", "severity": "P0"}],
            "default_severity": "P2",
        },
        {},
    )
    assert config.severity_for("prod-eu", Cause.deploy_rolled_back) == "P0"
    assert config.severity_for("staging", Cause.deploy_rolled_back) == "P2"


def test_incident_lifecycle_pages_escalates_and_resolves(
    http_receiver: HttpReceiver, ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    service = _service(http_receiver, ledger, tmp_path, clock, monkeypatch)

    incident = service.open(
        "production",
        "060-grafana-stack rolled back",
        Cause.deploy_rolled_back,
        release_id="060-grafana-stack",
        run_id=None,
        text="pod grafana crash-looping",
    )
    assert incident.severity == "P1" and incident.status is IncidentStatus.open
    assert sorted(r.path for r in http_receiver.requests) == ["/pd/v2/enqueue", "/slack"]
    trigger = next(r.json() for r in http_receiver.requests if r.path.startswith("/pd"))
    assert trigger["event_action"] == "trigger" and trigger["dedup_key"] == f"gripctl/incident/{incident.id}"

    clock.advance(minutes=14)
    assert service.tick() == []  # not due yet
    clock.advance(minutes=2)
    (escalated,) = service.tick()
    assert escalated.escalation_level == 1
    lead = [r.json() for r in http_receiver.requests if r.path == "/lead"]
    assert lead[-1]["kind"] == "incident.escalated" and lead[-1]["escalation_level"] == "infrastructure-lead"

    service.acknowledge(incident.id, "alice")
    clock.advance(hours=5)
    assert service.tick() == []  # acknowledged: the escalation clock stopped

    resolved = service.resolve(incident.id, "alice", rca="bad chart value; fixed in 0.4.1")
    assert resolved.status is IncidentStatus.resolved and resolved.rca == "bad chart value; fixed in 0.4.1"
    resolve = [r.json() for r in http_receiver.requests if r.path.startswith("/pd")][-1]
    assert resolve["event_action"] == "resolve" and resolve["dedup_key"] == trigger["dedup_key"]

    kinds = [e.kind for e in resolved.events]
    assert kinds[0] == "opened" and kinds[-2:] == ["resolved", "root_cause"]
    assert "escalated" in kinds and "acknowledged" in kinds and kinds.count("notified") >= 4
    assert {n.outcome for n in ledger.notifications(incident_id=incident.id)} == {"delivered"}


def test_escalation_stops_at_the_top_level(
    http_receiver: HttpReceiver, ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    service = _service(http_receiver, ledger, tmp_path, clock, monkeypatch)
    incident = service.open("production", "down", Cause.rollback_failed)
    assert incident.severity == "P0"
    for _ in range(4):
        clock.advance(hours=1)
        service.tick()
    record = ledger.incident(incident.id)
    assert record is not None and record.escalation_level == 2 and record.next_escalation_at is None


def test_resolving_twice_is_an_error_and_changes_nothing(
    http_receiver: HttpReceiver, ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = _service(http_receiver, ledger, tmp_path, Clock(), monkeypatch)
    incident = service.open("staging", "x", Cause.manual)
    service.resolve(incident.id, "bob")
    before = ledger.incident(incident.id)
    with pytest.raises(UsageError, match="already resolved"):
        service.resolve(incident.id, "bob", rca="again")
    assert ledger.incident(incident.id) == before
    with pytest.raises(UsageError, match="no incident #999"):
        service.acknowledge(999, "bob")


def test_escalation_to_unknown_channel_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"notifies unknown channel\(s\) \['pagr'\]"):
        incidents_config.parse({"escalation": [{"level": "on-call", "notify": ["pagr"]}]}, {"pager": {}})
    with pytest.raises(ConfigError, match="needs `after`"):
        incidents_config.parse({"escalation": [{"level": "a"}, {"level": "b"}]}, {})
    with pytest.raises(ConfigError, match="not one of P0, P1, P2, P3"):
        incidents_config.parse({"default_severity": "SEV1"}, {})
