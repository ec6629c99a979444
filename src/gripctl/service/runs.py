"""The ledger's record of runs: runs filtered and paged, one run with its waves, release states and
timeline, and a run's events after a given one (what a live view streams)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gripctl.errors import UsageError
from gripctl.ledger.store import Ledger
from gripctl.ledger.types import EventRecord, RunKind, RunOutcome, RunRecord
from gripctl.service.workspace import ledger_of, load

MAX_PAGE = 500


@dataclass(frozen=True)
class RunsRequest:
    root: Path
    environment: str | None = None  # None: every environment
    limit: int = 20
    kind: RunKind | None = None
    outcome: RunOutcome | None = None
    actor: str | None = None
    before: int | None = None  # the last run id of the previous page
    environments: Sequence[str] | None = None  # the caller may see only these (None: all)


@dataclass
class RunsResult:
    runs: list[RunRecord]
    limit: int = 20

    @property
    def next_before(self) -> int | None:
        return self.runs[-1].id if self.runs and len(self.runs) == self.limit else None

    def to_dict(self) -> list[dict[str, Any]]:
        return [r.to_dict() for r in self.runs]

    def page(self) -> dict[str, Any]:
        """The API's page: the runs and the cursor of the next, older page."""
        return {"runs": self.to_dict(), "next_before": self.next_before}


def runs(req: RunsRequest, ledger: Ledger | None = None) -> RunsResult:
    """The latest runs, newest first."""
    if not 1 <= req.limit <= MAX_PAGE:
        raise UsageError(f"limit {req.limit}: a page holds 1 to {MAX_PAGE} runs")
    if ledger is None:
        platform = load(req.root, req.environment)
        ledger = ledger_of(platform)
        name = platform.environment.name if req.environment else None
    else:
        name = req.environment
    found = ledger.runs(
        name,
        req.limit,
        environments=req.environments,
        kind=req.kind,
        outcome=req.outcome,
        actor=req.actor,
        before=req.before,
    )
    return RunsResult(found, req.limit)


def run(root: Path, run_id: int, ledger: Ledger | None = None) -> RunRecord:
    """One run with its actions and its event timeline."""
    record = (ledger or ledger_of(load(root, None))).run(run_id)
    if record is None:
        raise UsageError(f"no run {run_id} in the ledger", hint="`gripctl runs` lists them")
    return record


# The states a release shows on the run page, from the engine's phases.
STATES = ("pending", "deploying", "verifying", "monitoring", "healthy", "failed", "rolled-back", "skipped")
_PHASE_STATE = {
    "pending": "pending",
    "unchanged": "healthy",
    "unlocking": "deploying",
    "deploying": "deploying",
    "verifying": "verifying",
    "monitoring": "monitoring",
    "healthy": "healthy",
    "failed": "failed",
    "rolling-back": "failed",
    "rolled-back": "rolled-back",
    "uninstalled": "rolled-back",
    "skipped": "skipped",
}


def state_of(phase: str | None) -> str | None:
    return _PHASE_STATE.get(phase or "")


@dataclass
class ReleaseState:
    release_id: str
    state: str = "pending"
    phase: str | None = None
    reason: str = ""
    unchanged: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class RunDetail:
    """A run as its page shows it: the waves of its plan, each release's state, and the timeline."""

    record: RunRecord
    waves: list[list[str]]
    releases: dict[str, ReleaseState] = field(default_factory=dict)

    @property
    def live(self) -> bool:
        return self.record.outcome is RunOutcome.running

    @property
    def last_event(self) -> int:
        return self.record.events[-1].id if self.record.events else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.record.to_dict(),
            "waves": self.waves,
            "releases": {k: v.to_dict() for k, v in self.releases.items()},
        }


def apply_event(states: dict[str, ReleaseState], event: EventRecord) -> None:
    """Move a release's state on by one timeline event (the run page does the same in the browser)."""
    if not event.release_id:
        return
    rs = states.setdefault(event.release_id, ReleaseState(event.release_id))
    phase = (event.data or {}).get("phase")
    state = state_of(phase)
    if state is not None:
        rs.phase, rs.state = phase, state
        rs.unchanged = phase == "unchanged"
    if event.kind == "release-failed" or (phase == "failed" and event.message):
        rs.reason = event.message


def run_detail(root: Path, run_id: int, ledger: Ledger | None = None) -> RunDetail:
    led = ledger or ledger_of(load(root, None))
    record = run(root, run_id, led)
    waves: list[list[str]] = []
    if record.plan_digest:
        plan = led.get_plan(record.plan_digest)
        if plan is not None:
            waves = [list(w) for w in plan.body.get("waves", [])]
    if not waves:
        started = next((e for e in record.events if e.kind == "run-started"), None)
        ids = list((started.data or {}).get("releases", [])) if started else []
        single = (started.data or {}).get("release") if started else None
        ids = ids or ([single] if single else []) or sorted({a.release_id for a in record.actions})
        waves = [ids] if ids else []
    states = {rid: ReleaseState(rid) for wave in waves for rid in wave}
    for event in record.events:
        apply_event(states, event)
    for action in record.actions:  # the recorded error is the fullest reason
        rs = states.get(action.release_id)
        if rs is not None and action.error and not rs.reason:
            rs.reason = action.error
    return RunDetail(record, waves, states)


def events_after(root: Path, run_id: int, after: int = 0, ledger: Ledger | None = None) -> list[EventRecord]:
    """The run's events after event id `after`, oldest first."""
    return (ledger or ledger_of(load(root, None))).run_events(run_id, after)
