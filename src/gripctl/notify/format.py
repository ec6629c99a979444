"""Turns a NotifyEvent into each receiver's message shape: Slack Block Kit, PagerDuty v2, email, JSON."""

from __future__ import annotations

from typing import Any

from gripctl.notify.events import EventKind, NotifyEvent

_EMOJI = {
    EventKind.deploy_started: ":rocket:",
    EventKind.deploy_succeeded: ":white_check_mark:",
    EventKind.deploy_failed: ":x:",
    EventKind.deploy_rolled_back: ":leftwards_arrow_with_hook:",
    EventKind.approval_requested: ":raised_hand:",
    EventKind.incident_opened: ":rotating_light:",
    EventKind.incident_acknowledged: ":eyes:",
    EventKind.incident_escalated: ":arrow_double_up:",
    EventKind.incident_resolved: ":large_green_circle:",
}


def _headline(event: NotifyEvent) -> str:
    severity = f"[{event.severity}] " if event.severity else ""
    return f"{severity}{event.title} ({event.environment})"


def slack(event: NotifyEvent) -> dict[str, Any]:
    facts = [f"*Event:* `{event.kind}`", f"*Environment:* {event.environment}"]
    if event.release_id:
        facts.append(f"*Release:* {event.release_id}")
    if event.run_id is not None:
        facts.append(f"*Run:* #{event.run_id}")
    if event.incident_id is not None:
        facts.append(f"*Incident:* #{event.incident_id}")
    if event.escalation_level:
        facts.append(f"*Escalated to:* {event.escalation_level}")
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": f"{_EMOJI[event.kind]} {_headline(event)}"[:150]},
        },
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in facts]},
    ]
    if event.text:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": event.text[:2900]}})
    if event.links:
        links = " · ".join(f"<{url}|{label}>" for label, url in event.links.items())
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": links}]})
    # `text` is the fallback shown in notifications and by clients without Block Kit.
    return {"text": _headline(event), "blocks": blocks}


_PD_ACTION = {
    EventKind.incident_acknowledged: "acknowledge",
    EventKind.incident_resolved: "resolve",
}
_PD_SEVERITY = {"P0": "critical", "P1": "error", "P2": "warning", "P3": "info"}


def pagerduty(event: NotifyEvent) -> dict[str, Any]:
    action = _PD_ACTION.get(event.kind, "trigger")
    dedup = event.dedup_key or f"gripctl/{event.environment}/{event.kind}/{event.run_id}"
    body: dict[str, Any] = {"event_action": action, "dedup_key": dedup}
    if action == "trigger":
        body["payload"] = {
            "summary": _headline(event)[:1024],
            "source": f"gripctl/{event.environment}",
            "severity": _PD_SEVERITY.get(event.severity or "", "warning"),
            "component": event.release_id or "platform",
            "group": event.environment,
            "class": str(event.kind),
            "custom_details": {"text": event.text, "run_id": event.run_id, "incident_id": event.incident_id},
        }
        if event.links:
            body["links"] = [{"href": url, "text": label} for label, url in event.links.items()]
    return body


def email(event: NotifyEvent) -> dict[str, Any]:
    lines = [_headline(event), "", f"Event: {event.kind}", f"Environment: {event.environment}"]
    if event.release_id:
        lines.append(f"Release: {event.release_id}")
    if event.run_id is not None:
        lines.append(f"Run: #{event.run_id}")
    if event.incident_id is not None:
        lines.append(f"Incident: #{event.incident_id}")
    if event.escalation_level:
        lines.append(f"Escalated to: {event.escalation_level}")
    if event.text:
        lines += ["", event.text]
    lines += [f"{label}: {url}" for label, url in event.links.items()]
    return {"subject": f"[gripctl] {_headline(event)}", "text": "\n".join(lines) + "\n"}


def webhook(event: NotifyEvent) -> dict[str, Any]:
    return {
        "kind": str(event.kind),
        "environment": event.environment,
        "severity": event.severity,
        "title": event.title,
        "text": event.text,
        "run_id": event.run_id,
        "incident_id": event.incident_id,
        "release_id": event.release_id,
        "escalation_level": event.escalation_level,
        "links": event.links,
        "dedup_key": event.dedup_key,
    }
