"""Routes events to channels, retries with backoff, records every outcome; never fails a deploy.

A notification is best effort by design: a Slack outage must not block a rollback. Every failure is
recorded (and returned) instead of raised.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gripctl.adapters.notifiers import Channel, Delivery
from gripctl.errors import GripError
from gripctl.notify import format as fmt
from gripctl.notify.config import NotificationsConfig, SopsResolver, build_channel
from gripctl.notify.events import NotifyEvent

log = logging.getLogger(__name__)

_FORMATTERS: dict[str, Callable[[NotifyEvent], dict[str, Any]]] = {
    "slack": fmt.slack,
    "pagerduty": fmt.pagerduty,
    "email": fmt.email,
    "webhook": fmt.webhook,
}


@dataclass(frozen=True)
class Outcome:
    channel: str
    event: NotifyEvent
    delivered: bool
    attempts: int
    status_code: int | None
    error: str | None


# Where outcomes are recorded (the ledger); any error it raises is logged, not propagated.
DeliveryRecorder = Callable[[Outcome], None]


class Notifier:
    def __init__(
        self,
        config: NotificationsConfig,
        *,
        recorder: DeliveryRecorder | None = None,
        sops: SopsResolver | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self.recorder = recorder
        self.sops = sops
        self._sleep = sleep

    def channels_for(self, event: NotifyEvent) -> list[str]:
        names: list[str] = []
        for route in self.config.routes:
            if route.matches(event):
                names += [c for c in route.channels if c not in names]
        return names

    def notify(self, event: NotifyEvent, *, channels: list[str] | None = None) -> list[Outcome]:
        """Deliver `event` to its routed channels (or exactly `channels`, for escalation levels)."""
        outcomes = [
            self._deliver(name, event)
            for name in (channels if channels is not None else self.channels_for(event))
        ]
        for outcome in outcomes:
            if self.recorder is not None:
                try:
                    self.recorder(outcome)
                except Exception:  # a ledger hiccup must not turn into a failed deploy
                    log.exception("could not record notification outcome for %s", outcome.channel)
        return outcomes

    def _deliver(self, name: str, event: NotifyEvent) -> Outcome:
        settings = self.config.channels.get(name)
        if settings is None:
            return Outcome(name, event, False, 0, None, f"no channel named {name!r}")
        try:
            channel: Channel = build_channel(name, settings, self.config.root, self.sops)
        except GripError as exc:
            return Outcome(name, event, False, 0, None, exc.message)
        message = _FORMATTERS[str(settings["type"])](event)
        delivery = Delivery(ok=False, error="not attempted")
        attempts = 0
        for attempt in range(1, max(1, self.config.attempts) + 1):
            attempts = attempt
            delivery = channel.send(message)
            if delivery.ok or not delivery.retryable:
                break
            if attempt < self.config.attempts:
                self._sleep(self.config.backoff_seconds * 2 ** (attempt - 1))
        return Outcome(name, event, delivery.ok, attempts, delivery.status_code, delivery.error)
