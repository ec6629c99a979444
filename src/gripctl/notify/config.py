"""The `notifications:` section of gripctl.yaml: channels, routes and retry policy, validated.

Secret settings (webhook URLs, routing keys, SMTP passwords, HMAC secrets) must be references —
`env:NAME` or `sops:path/to/file.sops.yaml#dotted.key` — never literal strings in the config.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gripctl.adapters.notifiers import Channel, PagerDutyEvents, SignedWebhook, SlackWebhook, SmtpMailer
from gripctl.errors import ConfigError
from gripctl.notify.events import EventKind, NotifyEvent, severity_rank

SECRET_FIELDS = {
    "slack": ("webhook_url",),
    "pagerduty": ("routing_key",),
    "webhook": ("url", "secret"),
    "email": ("password",),
}
KINDS = tuple(SECRET_FIELDS)

# Resolves a `sops:` reference to its plaintext value (in memory); injected so config stays file-only.
SopsResolver = Callable[[Path, str], str]


@dataclass(frozen=True)
class Route:
    events: tuple[str, ...]  # glob patterns over EventKind values: "deploy.*", "incident.opened"
    channels: tuple[str, ...]
    environments: tuple[str, ...] = ()  # empty = every environment
    min_severity: str | None = None  # only events at least this bad (P1 matches P0 and P1)

    def matches(self, event: NotifyEvent) -> bool:
        if self.environments and event.environment not in self.environments:
            return False
        if not any(fnmatch.fnmatchcase(str(event.kind), pattern) for pattern in self.events):
            return False
        return not (self.min_severity and severity_rank(event.severity) > severity_rank(self.min_severity))


@dataclass(frozen=True)
class NotificationsConfig:
    channels: Mapping[str, Mapping[str, Any]]  # name -> settings, secrets still as references
    routes: tuple[Route, ...] = ()
    attempts: int = 3
    backoff_seconds: float = 1.0
    root: Path = field(default_factory=Path.cwd)


def _err(message: str, key_path: str, hint: str | None = None) -> ConfigError:
    from gripctl.errors import Location

    return ConfigError(message, hint=hint, location=Location("gripctl.yaml", key_path=key_path))


def parse(raw: Mapping[str, Any] | None, root: Path) -> NotificationsConfig:
    """Validate the `notifications:` mapping (secrets are checked to be references, not resolved)."""
    raw = raw or {}
    channels = raw.get("channels") or {}
    if not isinstance(channels, Mapping):
        raise _err("`channels` must be a mapping of name -> settings", "notifications.channels")
    for name, settings in channels.items():
        where = f"notifications.channels.{name}"
        kind = settings.get("type") if isinstance(settings, Mapping) else None
        if kind not in KINDS:
            raise _err(
                f"channel {name!r} has type {kind!r}", f"{where}.type", f"use one of: {', '.join(KINDS)}"
            )
        for secret in SECRET_FIELDS[kind]:
            value = settings.get(secret)
            if value is None and secret == "password":
                continue
            if not isinstance(value, str) or not value.startswith(("env:", "sops:")):
                raise _err(
                    f"channel {name!r}: `{secret}` is a secret and must be a reference, not a literal",
                    f"{where}.{secret}",
                    f"write `{secret}: env:VARIABLE` or `{secret}: sops:path/to/file.sops.yaml#key`",
                )
    routes: list[Route] = []
    for i, route in enumerate(raw.get("routes") or []):
        where = f"notifications.routes[{i}]"
        unknown = [c for c in route.get("channels", []) if c not in channels]
        if unknown:
            raise _err(
                f"route sends to unknown channel(s) {unknown}",
                f"{where}.channels",
                f"defined channels: {', '.join(channels) or '(none)'}",
            )
        events = tuple(route.get("events") or ["*"])
        known = [str(k) for k in EventKind]
        for pattern in events:
            if not any(fnmatch.fnmatchcase(k, pattern) for k in known):
                raise _err(
                    f"event pattern {pattern!r} matches no event",
                    f"{where}.events",
                    f"events: {', '.join(known)}",
                )
        routes.append(
            Route(
                events=events,
                channels=tuple(route.get("channels", [])),
                environments=tuple(route.get("environments") or ()),
                min_severity=route.get("min_severity"),
            )
        )
    retry = raw.get("retry") or {}
    return NotificationsConfig(
        channels=channels,
        routes=tuple(routes),
        attempts=int(retry.get("attempts", 3)),
        backoff_seconds=float(retry.get("backoff_seconds", 1.0)),
        root=root,
    )


def resolve_secret(reference: str, root: Path, sops: SopsResolver | None) -> str:
    scheme, _, rest = reference.partition(":")
    if scheme == "env":
        value = os.environ.get(rest)
        if not value:
            raise ConfigError(
                f"environment variable {rest} is not set (needed by a notification channel)",
                hint=f"export {rest}=... in the deploy's environment",
            )
        return value
    path, _, key = rest.partition("#")
    if sops is None or not key:
        raise ConfigError(
            f"cannot resolve secret reference {scheme}:{path}#{key or '?'}",
            hint="use sops:path/to/file.sops.yaml#dotted.key with an age key available",
        )
    return sops(root / path, key)


def build_channel(name: str, settings: Mapping[str, Any], root: Path, sops: SopsResolver | None) -> Channel:
    """Instantiate a channel, resolving its secret references now (in memory only)."""
    kind = settings["type"]

    def secret(key: str) -> str:
        return resolve_secret(str(settings[key]), root, sops)

    if kind == "slack":
        return SlackWebhook(name, secret("webhook_url"))
    if kind == "pagerduty":
        return PagerDutyEvents(
            name, secret("routing_key"), settings.get("base_url", "https://events.pagerduty.com")
        )
    if kind == "webhook":
        return SignedWebhook(name, secret("url"), secret("secret"))
    to = settings.get("to") or []
    return SmtpMailer(
        name,
        host=str(settings.get("host", "localhost")),
        port=int(settings.get("port", 587)),
        sender=str(settings.get("from", "gripctl@localhost")),
        recipients=tuple(to if isinstance(to, list) else [to]),
        starttls=bool(settings.get("starttls", True)),
        username=settings.get("username"),
        password=secret("password") if settings.get("password") else None,
        ca_file=settings.get("ca_file"),
    )
