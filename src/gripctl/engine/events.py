"""Typed engine events and the `EventSink` protocol every observer of a run implements.

The runner emits one `EngineEvent` per step (a release changing phase, a remediation, the run
finishing) to a list of sinks: the progress renderer, the ledger, and anything plugged in later
(incidents, Slack, PagerDuty) — without the runner knowing who listens.
"""

from __future__ import annotations

import contextlib
import sys
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol


class Phase(StrEnum):
    """Where one release is in a run."""

    pending = "pending"
    unchanged = "unchanged"  # noop in the plan
    unlocking = "unlocking"
    deploying = "deploying"
    verifying = "verifying"
    monitoring = "monitoring"
    healthy = "healthy"
    failed = "failed"
    rolling_back = "rolling-back"
    rolled_back = "rolled-back"
    uninstalled = "uninstalled"
    skipped = "skipped"

    @property
    def done(self) -> bool:
        return self in _DONE

    @property
    def ok(self) -> bool:
        """Dependents may start after a release in this phase."""
        return self in (Phase.healthy, Phase.unchanged)


_DONE = {Phase.unchanged, Phase.healthy, Phase.failed, Phase.rolled_back, Phase.uninstalled, Phase.skipped}


class EventKind(StrEnum):
    run_started = "run-started"
    phase = "phase"  # a release changed phase
    release_failed = "release-failed"  # verification or helm failed: the reason names the pod and event
    remediation = "remediation"  # rollback / uninstall started or finished
    lock = "lock"
    recovered = "recovered"
    run_finished = "run-finished"
    note = "note"


@dataclass(frozen=True)
class EngineEvent:
    kind: EventKind
    message: str
    release_id: str | None = None
    phase: Phase | None = None
    run_id: int | None = None
    data: dict[str, Any] = field(default_factory=dict)
    ts: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"event": self.kind.value, "message": self.message}
        if self.run_id is not None:
            out["run_id"] = self.run_id
        if self.release_id:
            out["release"] = self.release_id
        if self.phase:
            out["phase"] = self.phase.value
        if self.data:
            out["data"] = self.data
        return out


class EventSink(Protocol):
    """Anything that wants to hear about a run. `handle` must not raise and must return quickly."""

    def handle(self, event: EngineEvent) -> None: ...

    def close(self) -> None: ...


class Emitter:
    """Fans events out to sinks; a sink that raises is reported once and dropped, never fatal."""

    def __init__(self, sinks: list[EventSink] | None = None) -> None:
        self.sinks: list[EventSink] = list(sinks or [])
        self.run_id: int | None = None
        self.history: list[EngineEvent] = []

    def add(self, sink: EventSink) -> None:
        self.sinks.append(sink)

    def emit(
        self,
        kind: EventKind,
        message: str,
        *,
        release_id: str | None = None,
        phase: Phase | None = None,
        **data: Any,
    ) -> EngineEvent:
        event = EngineEvent(kind, message, release_id, phase, self.run_id, dict(data))
        self.history.append(event)
        for sink in list(self.sinks):
            try:
                sink.handle(event)
            except Exception as exc:  # a broken notifier must not break a deploy
                self.sinks.remove(sink)
                print(
                    f"warning: event sink {type(sink).__name__} failed and was dropped: {exc}",
                    file=sys.stderr,
                )
        return event

    def close(self) -> None:
        for sink in self.sinks:
            with contextlib.suppress(Exception):  # closing is best effort
                sink.close()
