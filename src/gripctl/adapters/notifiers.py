"""Delivery to notification receivers: Slack incoming webhooks, PagerDuty Events API v2, signed JSON
webhooks, and email over SMTP. Thin: each sends one message and reports what the receiver said.

Formatting lives in gripctl.notify.format; retries and routing in gripctl.notify.router.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any, Protocol

import httpx


@dataclass(frozen=True)
class Delivery:
    """What one attempt achieved; never carries the channel's secrets."""

    ok: bool
    status_code: int | None = None
    error: str | None = None
    retryable: bool = True


class Channel(Protocol):
    @property
    def name(self) -> str: ...

    def send(self, message: dict[str, Any]) -> Delivery: ...


def _post_json(url: str, body: bytes, headers: dict[str, str], timeout: float) -> Delivery:
    try:
        response = httpx.post(
            url, content=body, headers={"Content-Type": "application/json", **headers}, timeout=timeout
        )
    except httpx.HTTPError as exc:
        # The URL may hold a token (Slack webhooks do): report the error's kind, not the URL.
        return Delivery(ok=False, error=f"{type(exc).__name__}: could not reach the receiver")
    if response.is_success:
        return Delivery(ok=True, status_code=response.status_code)
    # 4xx other than 429 will not get better by retrying.
    retryable = response.status_code == 429 or response.status_code >= 500
    return Delivery(
        ok=False, status_code=response.status_code, error=f"HTTP {response.status_code}", retryable=retryable
    )


@dataclass(frozen=True)
class SlackWebhook:
    """A Slack incoming webhook; `message` is a Block Kit payload ({"text": ..., "blocks": [...]})."""

    name: str
    webhook_url: str
    timeout: float = 10.0

    def send(self, message: dict[str, Any]) -> Delivery:
        return _post_json(self.webhook_url, json.dumps(message).encode(), {}, self.timeout)


@dataclass(frozen=True)
class PagerDutyEvents:
    """PagerDuty Events API v2: POST {base_url}/v2/enqueue with routing_key, event_action, dedup_key."""

    name: str
    routing_key: str
    base_url: str = "https://events.pagerduty.com"
    timeout: float = 10.0

    def send(self, message: dict[str, Any]) -> Delivery:
        body = {"routing_key": self.routing_key, **message}
        return _post_json(
            self.base_url.rstrip("/") + "/v2/enqueue", json.dumps(body).encode(), {}, self.timeout
        )


def sign(secret: str, body: bytes) -> str:
    """The signature header value of a webhook body: `sha256=<hex hmac>` (GitHub's convention)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class SignedWebhook:
    """A generic JSON webhook; the receiver verifies `X-Gripctl-Signature` with the shared secret."""

    name: str
    url: str
    secret: str
    timeout: float = 10.0

    def send(self, message: dict[str, Any]) -> Delivery:
        body = json.dumps(message, sort_keys=True).encode()
        return _post_json(self.url, body, {"X-Gripctl-Signature": sign(self.secret, body)}, self.timeout)


@dataclass(frozen=True)
class SmtpMailer:
    """Email over SMTP with STARTTLS and optional auth; `message` has subject, text, to."""

    name: str
    host: str
    port: int
    sender: str
    recipients: tuple[str, ...]
    starttls: bool = True
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None  # to trust a private CA (tests use a self-signed loopback server)
    timeout: float = 10.0

    def send(self, message: dict[str, Any]) -> Delivery:
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = ", ".join(self.recipients)
        mail["Subject"] = str(message["subject"])
        mail.set_content(str(message["text"]))
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context(cafile=self.ca_file))
                if self.username:
                    # One mechanism only: smtplib.login() falls through every advertised mechanism,
                    # turning one wrong password into several failed logins (and lockouts).
                    smtp.user, smtp.password = self.username, self.password or ""
                    smtp.ehlo()
                    smtp.auth("PLAIN", smtp.auth_plain, initial_response_ok=True)
                smtp.send_message(mail)
        except smtplib.SMTPAuthenticationError as exc:
            return Delivery(
                ok=False, status_code=exc.smtp_code, error="SMTP authentication failed", retryable=False
            )
        except (smtplib.SMTPException, OSError) as exc:
            return Delivery(ok=False, error=f"{type(exc).__name__}: {exc}"[:200])
        return Delivery(ok=True, status_code=250)
