"""The run's timeline in the ledger: every engine event of a run, as an event sink."""

from __future__ import annotations

from typing import Any

from gripctl.engine.events import EngineEvent, EventKind, Phase
from gripctl.ledger.store import Ledger


class LedgerSink:
    """Every event on the run's timeline in the ledger (rollout progress chatter excepted)."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def handle(self, event: EngineEvent) -> None:
        if event.run_id is None:
            return
        if event.kind is EventKind.note and event.phase is Phase.verifying:
            return  # rollout progress: shown live, and the last of it is in the failure reason
        data: dict[str, Any] = dict(event.data)
        if event.phase is not None:
            data["phase"] = event.phase.value
        self.ledger.event(event.run_id, event.kind.value, event.message, event.release_id, data or None)

    def close(self) -> None:
        pass
