"""Notifications delivered for real to loopback receivers: Slack, PagerDuty, signed webhook, SMTP."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest

from gripctl.errors import ConfigError
from gripctl.notify.config import parse
from gripctl.notify.events import EventKind, NotifyEvent
from gripctl.notify.router import Notifier, Outcome

from .conftest import HttpReceiver, Mailbox

FAILED = NotifyEvent(
    kind=EventKind.deploy_failed,
    environment="production",
    title="deploy of 060-grafana-stack failed",
    text="pod grafana-7c9 CrashLoopBackOff",
    severity="P1",
    run_id=42,
    release_id="060-grafana-stack",
    links={"run": "http://gripctl.example/runs/42"},
    dedup_key="gripctl/production/incident/7",
)


def _notifier(raw: dict[str, object], tmp_path: Path, outcomes: list[Outcome] | None = None) -> Notifier:
    return Notifier(
        parse(raw, tmp_path), recorder=outcomes.append if outcomes is not None else None, sleep=lambda s: None
    )


def test_slack_block_kit_message_arrives(
    http_receiver: HttpReceiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_URL", f"{http_receiver.url}/services/T000/B000/XXX")
    raw = {
        "channels": {"slack": {"type": "slack", "webhook_url": "env:SLACK_URL"}},
        "routes": [{"events": ["deploy.*"], "channels": ["slack"]}],
    }
    outcomes: list[Outcome] = []
    result = _notifier(raw, tmp_path, outcomes).notify(FAILED)
    assert [o.delivered for o in result] == [True]
    assert outcomes == result
    (request,) = http_receiver.requests
    assert request.path == "/services/T000/B000/XXX"
    body = request.json()
    assert body["text"] == "[P1] deploy of 060-grafana-stack failed (production)"
    assert body["blocks"][0]["type"] == "header"
    assert any("<http://gripctl.example/runs/42|run>" in str(b) for b in body["blocks"])


def test_pagerduty_trigger_then_resolve_share_dedup_key(
    http_receiver: HttpReceiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PD_KEY", "R0UTINGKEY")
    raw = {
        "channels": {"pd": {"type": "pagerduty", "routing_key": "env:PD_KEY", "base_url": http_receiver.url}},
        "routes": [{"events": ["deploy.failed", "incident.*"], "channels": ["pd"], "min_severity": "P1"}],
    }
    notifier = _notifier(raw, tmp_path)
    notifier.notify(FAILED)
    resolved = NotifyEvent(
        EventKind.incident_resolved, "production", "resolved", severity="P1", dedup_key=FAILED.dedup_key
    )
    notifier.notify(resolved)
    trigger, resolve = (r.json() for r in http_receiver.requests)
    assert {r.path for r in http_receiver.requests} == {"/v2/enqueue"}
    assert trigger["event_action"] == "trigger" and resolve["event_action"] == "resolve"
    assert trigger["dedup_key"] == resolve["dedup_key"] == "gripctl/production/incident/7"
    assert trigger["routing_key"] == "R0UTINGKEY"
    assert trigger["payload"]["severity"] == "error"


def test_min_severity_and_environment_filter_routes(
    http_receiver: HttpReceiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PD_KEY", "k")
    raw = {
        "channels": {"pd": {"type": "pagerduty", "routing_key": "env:PD_KEY", "base_url": http_receiver.url}},
        "routes": [
            {
                "events": ["deploy.failed"],
                "channels": ["pd"],
                "min_severity": "P1",
                "environments": ["production"],
            }
        ],
    }
    notifier = _notifier(raw, tmp_path)
    p2 = NotifyEvent(EventKind.deploy_failed, "production", "minor", severity="P2")
    staging = NotifyEvent(EventKind.deploy_failed, "staging", "bad", severity="P0")
    assert notifier.notify(p2) == [] and notifier.notify(staging) == []
    assert http_receiver.requests == []


def test_webhook_is_signed_with_hmac(
    http_receiver: HttpReceiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOK_URL", f"{http_receiver.url}/hook")
    monkeypatch.setenv("HOOK_SECRET", "s3cr3t")
    raw = {
        "channels": {"audit": {"type": "webhook", "url": "env:HOOK_URL", "secret": "env:HOOK_SECRET"}},
        "routes": [{"events": ["*"], "channels": ["audit"]}],
    }
    _notifier(raw, tmp_path).notify(FAILED)
    (request,) = http_receiver.requests
    expected = "sha256=" + hmac.new(b"s3cr3t", request.body, hashlib.sha256).hexdigest()
    assert request.headers["x-gripctl-signature"] == expected
    assert request.json()["kind"] == "deploy.failed"


def test_retries_with_backoff_then_records_failure(
    http_receiver: HttpReceiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_URL", http_receiver.url)
    http_receiver.script = [500, 503, 500]
    raw = {
        "channels": {"slack": {"type": "slack", "webhook_url": "env:SLACK_URL"}},
        "routes": [{"events": ["*"], "channels": ["slack"]}],
        "retry": {"attempts": 3, "backoff_seconds": 0.5},
    }
    sleeps: list[float] = []
    outcomes: list[Outcome] = []
    notifier = Notifier(parse(raw, tmp_path), recorder=outcomes.append, sleep=sleeps.append)
    (outcome,) = notifier.notify(FAILED)
    assert not outcome.delivered and outcome.attempts == 3 and outcome.status_code == 500
    assert sleeps == [0.5, 1.0]
    assert len(http_receiver.requests) == 3 and outcomes == [outcome]


def test_retry_succeeds_after_transient_error(
    http_receiver: HttpReceiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_URL", http_receiver.url)
    http_receiver.script = [503]
    raw = {
        "channels": {"slack": {"type": "slack", "webhook_url": "env:SLACK_URL"}},
        "routes": [{"events": ["*"], "channels": ["slack"]}],
    }
    (outcome,) = _notifier(raw, tmp_path).notify(FAILED)
    assert outcome.delivered and outcome.attempts == 2


def test_unreachable_receiver_never_raises_and_hides_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_URL", "http://127.0.0.1:9/services/SECRET-TOKEN")
    raw = {
        "channels": {"slack": {"type": "slack", "webhook_url": "env:SLACK_URL"}},
        "routes": [{"events": ["*"], "channels": ["slack"]}],
        "retry": {"attempts": 2},
    }
    (outcome,) = _notifier(raw, tmp_path).notify(FAILED)
    assert not outcome.delivered and outcome.attempts == 2
    assert "SECRET-TOKEN" not in (outcome.error or "")


def test_email_over_starttls_with_auth(
    smtp_server: Mailbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMTP_PASSWORD", smtp_server.password)
    raw = {
        "channels": {
            "mail": {
                "type": "email",
                "host": smtp_server.host,
                "port": smtp_server.port,
                "from": "gripctl@example.com",
                "to": ["oncall@example.com"],
                "username": smtp_server.username,
                "password": "env:SMTP_PASSWORD",
                "ca_file": smtp_server.ca_file,
            }
        },
        "routes": [{"events": ["deploy.failed"], "channels": ["mail"]}],
    }
    (outcome,) = _notifier(raw, tmp_path).notify(FAILED)
    assert outcome.delivered, outcome.error
    (envelope,) = smtp_server.messages
    assert envelope.rcpt_tos == ["oncall@example.com"]
    content = envelope.content.decode() if isinstance(envelope.content, bytes) else str(envelope.content)
    assert "Subject: [gripctl] [P1] deploy of 060-grafana-stack failed (production)" in content
    assert "pod grafana-7c9 CrashLoopBackOff" in content


def test_email_wrong_password_is_recorded_not_retried(
    smtp_server: Mailbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMTP_PASSWORD", "wrong")
    raw = {
        "channels": {
            "mail": {
                "type": "email",
                "host": smtp_server.host,
                "port": smtp_server.port,
                "to": ["oncall@example.com"],
                "username": smtp_server.username,
                "password": "env:SMTP_PASSWORD",
                "ca_file": smtp_server.ca_file,
            }
        },
        "routes": [{"events": ["*"], "channels": ["mail"]}],
    }
    (outcome,) = _notifier(raw, tmp_path).notify(FAILED)
    assert not outcome.delivered and outcome.attempts == 1
    assert outcome.error == "SMTP authentication failed"
    assert smtp_server.messages == []


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"channels": {"s": {"type": "slack", "webhook_url": "https://hooks.slack.com/services/T/B/X"}}},
            "`webhook_url` is a secret and must be a reference",
        ),
        ({"channels": {"s": {"type": "teams"}}}, "channel 's' has type 'teams'"),
        (
            {"channels": {}, "routes": [{"events": ["*"], "channels": ["nope"]}]},
            "unknown channel(s) ['nope']",
        ),
        ({"channels": {}, "routes": [{"events": ["deploy.exploded"], "channels": []}]}, "matches no event"),
    ],
)
def test_bad_notification_config_is_rejected(raw: dict[str, object], message: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as excinfo:
        parse(raw, tmp_path)
    assert message in str(excinfo.value)


def test_missing_env_secret_is_reported_as_outcome(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    raw = {
        "channels": {"s": {"type": "slack", "webhook_url": "env:NOT_SET_ANYWHERE"}},
        "routes": [{"events": ["*"], "channels": ["s"]}],
    }
    (outcome,) = _notifier(raw, tmp_path).notify(FAILED)
    assert not outcome.delivered and "NOT_SET_ANYWHERE is not set" in (outcome.error or "")
