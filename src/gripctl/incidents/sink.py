"""The engine's bridge to people: turns a run's events into notifications and, on failure, incidents.

Wired into every run by the service (`service.workspace.sink_factories`). Delivery runs on a worker
thread so that a slow receiver (or its retry backoff) never stalls the deploy's event loop; `close()`
waits a bounded time for it to drain.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from gripctl.engine.events import EngineEvent, EventKind, Phase
from gripctl.incidents.config import Cause
from gripctl.incidents.service import IncidentService
from gripctl.incidents.setup import incident_service
from gripctl.model.types import Platform
from gripctl.notify.events import EventKind as NotifyKind
from gripctl.notify.events import NotifyEvent

log = logging.getLogger(__name__)
DRAIN_SECONDS = 30.0


@dataclass
class _RunState:
    phases: dict[str, list[Phase]] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)

    def cause(self) -> Cause | None:
        """The worst thing that happened in the run, in incident terms."""
        worst: Cause | None = None
        for phases in self.phases.values():
            if Phase.failed not in phases:
                continue
            rolled = Phase.rolling_back in phases
            if rolled and phases[-1] is Phase.failed:
                return Cause.rollback_failed  # the rollback itself failed: the worst case
            if phases[-1] in (Phase.rolled_back, Phase.uninstalled):
                worst = worst or Cause.deploy_rolled_back
            else:
                worst = Cause.deploy_failed
        return worst

    def failed_releases(self) -> list[str]:
        return [rid for rid, phases in self.phases.items() if Phase.failed in phases]


class IncidentSink:
    def __init__(self, service: IncidentService, environment: str, run_id: int) -> None:
        self.service = service
        self.environment = environment
        self.run_id = run_id
        self.state = _RunState()
        self._jobs: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self._worker = threading.Thread(target=self._work, name=f"gripctl-notify-{run_id}", daemon=True)
        self._worker.start()

    def handle(self, event: EngineEvent) -> None:
        if event.release_id and event.phase is not None:
            self.state.phases.setdefault(event.release_id, []).append(event.phase)
            if event.phase is Phase.failed:
                self.state.reasons[event.release_id] = event.message
        if event.kind is EventKind.run_started:
            self._submit(
                lambda: self._notify(
                    NotifyKind.deploy_started, f"deploy to {self.environment} started", event.message
                )
            )
        elif event.kind is EventKind.recovered and event.release_id:
            release_id, message = event.release_id, event.message
            self._submit(
                lambda: self._open(
                    Cause.stuck_release, f"{release_id} was left stuck by a crash", message, release_id
                )
            )
        elif event.kind is EventKind.run_finished:
            self._finished(str(event.data.get("outcome", "")), event.message)

    def close(self) -> None:
        self._jobs.put(None)
        self._worker.join(DRAIN_SECONDS)

    # --- internals ---------------------------------------------------------------------------------

    def _finished(self, outcome: str, message: str) -> None:
        cause = self.state.cause()
        if cause is None:
            if outcome == "succeeded":
                self._submit(
                    lambda: self._notify(
                        NotifyKind.deploy_succeeded, f"deploy to {self.environment} succeeded", message
                    )
                )
            return
        failed = self.state.failed_releases()
        kind = (
            NotifyKind.deploy_rolled_back if cause is Cause.deploy_rolled_back else NotifyKind.deploy_failed
        )
        verb = "rolled back" if cause is Cause.deploy_rolled_back else "failed"
        title = f"deploy to {self.environment} {verb}: {', '.join(failed)}"
        details = "\n".join(f"{rid}: {self.state.reasons.get(rid, '')}" for rid in failed)
        release_id = failed[0] if len(failed) == 1 else None
        severity = self.service.config.severity_for(self.environment, cause)

        def job() -> None:
            self._notify(kind, title, details, severity=severity, release_id=release_id)
            self._open(cause, title, details, release_id)

        self._submit(job)

    def _notify(
        self,
        kind: NotifyKind,
        title: str,
        text: str,
        *,
        severity: str | None = None,
        release_id: str | None = None,
    ) -> None:
        if self.service.notifier is None:
            return
        event = NotifyEvent(
            kind, self.environment, title, text, severity=severity, run_id=self.run_id, release_id=release_id
        )
        self.service.notifier.notify(event)

    def _open(self, cause: Cause, title: str, text: str, release_id: str | None) -> None:
        self.service.open(
            self.environment,
            title,
            cause,
            release_id=release_id,
            run_id=self.run_id,
            text=text,
            actor="gripctl",
        )

    def _submit(self, job: Callable[[], None]) -> None:
        self._jobs.put(job)

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                job()
            except Exception:  # recorded in the log; a notification problem never fails the run
                log.exception("incident/notification job failed for run %s", self.run_id)


def incident_sink_factory(platform: Platform, run_id: int) -> IncidentSink:
    """The incidents-and-notifications sink of one run; the service wires it into every run."""
    return IncidentSink(incident_service(platform.root), platform.environment.name, run_id)
