"""The ledger's record of runs: the latest runs of an environment, and one run with its timeline."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gripctl.errors import UsageError
from gripctl.ledger.types import RunRecord
from gripctl.service.workspace import ledger_of, load


@dataclass(frozen=True)
class RunsRequest:
    root: Path
    environment: str | None = None  # None: every environment
    limit: int = 20


@dataclass
class RunsResult:
    runs: list[RunRecord]

    def to_dict(self) -> list[dict[str, Any]]:
        return [r.to_dict() for r in self.runs]


def runs(req: RunsRequest) -> RunsResult:
    """The latest runs, newest first."""
    platform = load(req.root, req.environment)
    name = platform.environment.name if req.environment else None
    return RunsResult(ledger_of(platform).runs(name, req.limit))


def run(root: Path, run_id: int) -> RunRecord:
    """One run with its actions and its event timeline."""
    record = ledger_of(load(root, None)).run(run_id)
    if record is None:
        raise UsageError(f"no run {run_id} in the ledger", hint="`gripctl runs` lists them")
    return record
