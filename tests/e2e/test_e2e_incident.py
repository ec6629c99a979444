"""Issue 6, "done when": a failed production deploy on the real sandbox is rolled back automatically,
opens a P1 incident linked to its run and release, pages PagerDuty and tells Slack (both real HTTP
receivers on loopback), escalates when nobody acknowledges (`gripctl incident tick`) to a signed
webhook and then to email (a real SMTP server on loopback), resolves PagerDuty's alert with the same
dedup key, keeps the whole timeline, and shows up in `gripctl metrics` exactly as the ledger says.

Everything runs through the `gripctl` command line, as an operator (or CI) runs it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import statistics
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from e2e_helpers import GRAFANA_SUBSET, E2EPlatform, Run

from gripctl.ledger import Ledger, open_ledger
from gripctl.ledger.types import RunKind, RunOutcome
from receivers import HttpReceiver, Mailbox
from ssh_keys import signers

ESCALATE_AFTER = 2.0  # seconds at each level before the next one


def _configure(webgrip: E2EPlatform, http: HttpReceiver, smtp: Mailbox) -> dict[str, str]:
    """Channels on the loopback receivers (secrets as env: references), Slack for deploy.*, and a
    three-level escalation path: PagerDuty → signed webhook → email."""
    secrets = {
        "E2E_SLACK_URL": f"{http.url}/slack",
        "E2E_PD_KEY": f"e2e-routing-{uuid.uuid4().hex[:8]}",
        "E2E_HOOK_URL": f"{http.url}/lead",
        "E2E_HOOK_SECRET": f"e2e-hmac-{uuid.uuid4().hex}",
        "E2E_SMTP_PASSWORD": smtp.password,
    }
    webgrip.env.update(secrets)
    data = webgrip.config()
    data["notifications"] = {
        "channels": {
            "slack-platform": {"type": "slack", "webhook_url": "env:E2E_SLACK_URL"},
            "pagerduty-oncall": {
                "type": "pagerduty",
                "routing_key": "env:E2E_PD_KEY",
                "base_url": f"{http.url}/pd",
            },
            "lead-hook": {"type": "webhook", "url": "env:E2E_HOOK_URL", "secret": "env:E2E_HOOK_SECRET"},
            "email-managers": {
                "type": "email",
                "host": smtp.host,
                "port": smtp.port,
                "from": "gripctl@e2e.test",
                "username": smtp.username,
                "password": "env:E2E_SMTP_PASSWORD",
                "ca_file": smtp.ca_file,
                "to": ["managers@e2e.test"],
            },
        },
        "routes": [{"events": ["deploy.*"], "channels": ["slack-platform"]}],
        "retry": {"attempts": 2, "backoff_seconds": 0.2},
    }
    data["incidents"] = {
        "escalation": [
            {"level": "on-call", "after": f"{ESCALATE_AFTER}s", "notify": ["pagerduty-oncall"]},
            {"level": "infrastructure-lead", "after": f"{ESCALATE_AFTER}s", "notify": ["lead-hook"]},
            {"level": "engineering-manager", "notify": ["email-managers"]},
        ]
    }
    webgrip.write_config(data)
    return secrets


def _approved_deploy(webgrip: E2EPlatform) -> Run:
    """Production needs an approval of the exact plan: alice plans (recorded in the ledger as hers), bob
    approves it signed with his SSH key (four eyes), alice deploys."""
    keys = signers(webgrip.root.parent / "ssh", ["alice", "bob"], webgrip.root / "keys" / "allowed_signers")
    plan = webgrip.gripctl("--output", "json", "plan", "-e", "production", *GRAFANA_SUBSET, "--as", "alice")
    assert plan.returncode == 2 and plan.json()["ledger"] is True, plan
    plan_id = plan.json()["id"]
    unsigned = webgrip.gripctl("approve", plan_id, "-e", "production", "--as", "bob", "-m", "e2e")
    assert unsigned.returncode != 0 and "must be authenticated" in unsigned.stderr, unsigned
    own = webgrip.gripctl("approve", plan_id, "-e", "production", "--sign", str(keys["alice"]))
    assert own.returncode != 0 and "alice requested plan" in own.stderr, own
    approved = webgrip.gripctl(
        "approve", plan_id, "-e", "production", "--sign", str(keys["bob"]), "-m", "e2e"
    )
    assert approved.returncode == 0 and "approved by bob" in approved.stdout, approved
    return webgrip.gripctl(
        "deploy", "-e", "production", *GRAFANA_SUBSET, "--as", "alice", "--wait-lock", "180"
    )


def _bodies(http: HttpReceiver, path: str) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in http.at(path)]


def _slack_events(http: HttpReceiver) -> list[str]:
    """The `Event:` field of every Slack message (Block Kit section fields)."""
    kinds = []
    for body in _bodies(http, "/slack"):
        fields = [f["text"] for b in body["blocks"] for f in b.get("fields", [])]
        kinds += [f.split("`")[1] for f in fields if f.startswith("*Event:*")]
    return kinds


def _wait_for_escalation(ledger: Ledger, incident_id: int) -> None:
    """Sleep until the incident's time at its current level has run out (the ledger says when)."""
    record = ledger.incident(incident_id)
    assert record is not None and record.next_escalation_at is not None, record
    delay = (record.next_escalation_at - datetime.now(UTC)).total_seconds()
    if delay > 0:
        time.sleep(delay + 0.2)


def test_failed_production_deploy_incident_lifecycle(
    webgrip: E2EPlatform, http_receiver: HttpReceiver, smtp_server: Mailbox
) -> None:
    secrets = _configure(webgrip, http_receiver, smtp_server)

    # 1. A good production deploy.
    first = _approved_deploy(webgrip)
    assert first.returncode == 0, first
    assert _slack_events(http_receiver) == ["deploy.started", "deploy.succeeded"], http_receiver.requests
    good_revision = webgrip.helm_history("060-grafana-stack")[-1]["revision"]
    ledger = open_ledger(f"sqlite:///{webgrip.ledger_path}")  # the copy's own (gripctl.yaml ledger.url)

    # 2. A broken one: grafana's pods crash-loop. Verification fails, gripctl rolls back.
    webgrip.inject("060-grafana-stack", "grafana.yaml")
    second = _approved_deploy(webgrip)
    assert second.returncode == 1, second
    history = webgrip.helm_history("060-grafana-stack")
    # helm's upgrade succeeded and verification failed it; the rollback superseded it. Both revisions
    # name the run that made them (helm's description).
    assert [e["status"] for e in history[-2:]] == ["superseded", "deployed"], history
    assert history[-1]["revision"] == history[-2]["revision"] + 1 > good_revision, history
    assert history[-1]["description"] == history[-2]["description"], history
    assert history[-1]["description"].startswith("gripctl run "), history
    template = webgrip.kubectl(
        "get",
        "deployment",
        "grafana",
        "-n",
        webgrip.namespace("060-grafana-stack"),
        "-o",
        "jsonpath={.spec.template.metadata.labels}",
    )
    assert template.returncode == 0 and "gripctl.dev/inject" not in template.stdout, template

    deploys = [r for r in ledger.runs("production") if r.kind is RunKind.deploy]
    assert [r.outcome for r in reversed(deploys)] == [RunOutcome.succeeded, RunOutcome.rolled_back]
    failed_run = deploys[0]

    # 3. A P1 incident, linked to the run and the release; PagerDuty paged, Slack told.
    listed = webgrip.gripctl("--output", "json", "incident", "list", "-e", "production")
    assert listed.returncode == 0, listed
    assert len(listed.json()) == 1, listed
    incident = listed.json()[0]
    assert incident["severity"] == "P1" and incident["status"] == "open", incident
    assert incident["run_id"] == failed_run.id and incident["release_id"] == "060-grafana-stack", incident
    dedup = f"gripctl/incident/{incident['id']}"

    pages = _bodies(http_receiver, "/pd/v2/enqueue")
    assert [(p["event_action"], p["dedup_key"]) for p in pages] == [("trigger", dedup)], pages
    assert pages[0]["routing_key"] == secrets["E2E_PD_KEY"]
    assert (
        pages[0]["payload"]["severity"] == "error" and pages[0]["payload"]["component"] == "060-grafana-stack"
    )
    assert _slack_events(http_receiver)[2:] == ["deploy.started", "deploy.rolled_back"], (
        http_receiver.requests
    )
    rolled_back_text = json.dumps(_bodies(http_receiver, "/slack")[-1])
    assert "rolled back" in rolled_back_text and "CrashLoopBackOff" in rolled_back_text, rolled_back_text
    assert http_receiver.at("/lead") == [] and smtp_server.messages == []  # not yet: nobody escalated

    # 4. Nobody acknowledges: level 1 (the signed webhook), then level 2 (email).
    _wait_for_escalation(ledger, incident["id"])
    tick = webgrip.gripctl("incident", "tick")
    assert tick.returncode == 0 and f"escalated incident #{incident['id']} to level 1" in tick.stdout, tick
    hooks = http_receiver.at("/lead")
    assert len(hooks) == 1, hooks
    expected = hmac.new(secrets["E2E_HOOK_SECRET"].encode(), hooks[0].body, hashlib.sha256).hexdigest()
    assert hooks[0].headers["x-gripctl-signature"] == f"sha256={expected}"
    escalated = json.loads(hooks[0].body)
    assert escalated["kind"] == "incident.escalated" and escalated["incident_id"] == incident["id"], escalated
    assert escalated["escalation_level"] == "infrastructure-lead" and escalated["dedup_key"] == dedup

    _wait_for_escalation(ledger, incident["id"])
    tick = webgrip.gripctl("incident", "tick")
    assert tick.returncode == 0 and f"escalated incident #{incident['id']} to level 2" in tick.stdout, tick
    assert len(smtp_server.messages) == 1
    mail = smtp_server.messages[0]
    assert mail.rcpt_tos == ["managers@e2e.test"]
    assert isinstance(mail.content, bytes) and f"incident #{incident['id']}" in mail.content.decode(), mail
    assert len(http_receiver.at("/lead")) == 1  # each level is told once

    # 5. Resolved with a root cause: PagerDuty's alert is resolved with the same dedup key.
    rca = "grafana's pod template carried a crash injection label"
    resolved = webgrip.gripctl("incident", "resolve", str(incident["id"]), "--rca", rca, "--as", "alice")
    assert resolved.returncode == 0, resolved
    pages = _bodies(http_receiver, "/pd/v2/enqueue")
    assert [(p["event_action"], p["dedup_key"]) for p in pages] == [("trigger", dedup), ("resolve", dedup)]

    # 6. The timeline, as `incident show` prints it and as the ledger holds it.
    shown = webgrip.gripctl("incident", "show", str(incident["id"]))
    assert shown.returncode == 0, shown
    assert f"run {failed_run.id}" in shown.stdout and "release 060-grafana-stack" in shown.stdout, shown
    assert f"root cause: {rca}" in shown.stdout, shown
    record = ledger.incident(incident["id"])
    assert record is not None and record.resolved_at is not None
    steps = [str(e.kind) for e in record.events if str(e.kind) != "notified"]
    assert steps == ["opened", "escalated", "escalated", "resolved", "root_cause"], record.events
    notified = {e.message for e in record.events if str(e.kind) == "notified"}
    for message in (
        "incident.opened to pagerduty-oncall: delivered",
        "incident.escalated to lead-hook: delivered",
        "incident.escalated to email-managers: delivered",
        "incident.resolved to pagerduty-oncall: delivered",
    ):
        assert message in notified, notified
    for kind in ("opened", "notified", "escalated", "resolved", "root_cause"):
        assert kind in shown.stdout, shown

    # 7. DORA metrics for production, checked against figures computed here from the ledger's records.
    metrics = webgrip.gripctl("--output", "json", "metrics", "-e", "production")
    assert metrics.returncode == 0, metrics
    report = metrics.json()
    (prod,) = report["environments"]
    deploys = [r for r in ledger.runs("production") if r.kind is RunKind.deploy]
    succeeded = [r for r in deploys if r.outcome is RunOutcome.succeeded]
    failed = [r for r in deploys if r.outcome in (RunOutcome.failed, RunOutcome.rolled_back)]
    restore = statistics.median(
        (i.resolved_at - i.opened_at).total_seconds()
        for i in ledger.incidents(environment="production")
        if i.resolved_at
    )
    assert (prod["finished_deploys"], prod["failed_deploys"], prod["deploys"]) == (
        len(deploys),
        len(failed),
        len(succeeded),
    ), prod
    assert prod["change_failure_rate"] == len(failed) / len(deploys) == 0.5, prod
    assert prod["deploys_per_day"] > 0
    assert abs(prod["deploys_per_day"] - len(succeeded) / report["window"]["days"]) < 1e-6, prod
    assert abs(prod["time_to_restore_seconds"] - restore) < 0.01, (prod, restore)
    assert prod["incidents_resolved"] == 1 and prod["incidents_unresolved"] == 0, prod
