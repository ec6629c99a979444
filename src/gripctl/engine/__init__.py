"""Engine: executes plans (concurrency, approvals, verification, remediation, locks); it alone acts.

Entry points are in `gripctl.engine.service` (deploy, rollback, recover, verify, status). To observe
runs (incidents, notifications), implement `EventSink` and `register_sink_factory` a builder for it:
the runner emits `EngineEvent`s and never needs to know who listens.
"""

from gripctl.engine.events import (
    EngineEvent,
    EventKind,
    EventSink,
    Phase,
    SinkFactory,
    register_sink_factory,
)

__all__ = ["EngineEvent", "EventKind", "EventSink", "Phase", "SinkFactory", "register_sink_factory"]
