"""Timeline events are committed without waiting for the disk, everything else with: on SQLite an event's
transaction runs under `PRAGMA synchronous=NORMAL` (WAL: no fsync) and every other write under FULL; on
PostgreSQL an event's transaction sets `synchronous_commit` off. Events still survive gripctl killed
with SIGKILL right after writing them (an application crash loses nothing in WAL mode)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from sqlalchemy import event

from gripctl.ledger import Ledger, open_ledger


def statements(ledger: Ledger) -> list[str]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith(("PRAGMA synchronous", "BEGIN", "SET LOCAL", "INSERT", "COMMIT")):
            seen.append(statement.split(" (")[0].split(" VALUES")[0])

    event.listen(ledger.engine, "before_cursor_execute", record)
    return seen


def test_events_skip_the_fsync_and_other_writes_keep_it(ledger: Ledger) -> None:
    seen = statements(ledger)
    run = ledger.start_run("staging", "deploy", "alice", None, None)
    after_run = len(seen)
    ledger.event(run, "note", "planned", "010-a")
    event_statements = seen[after_run:]
    ledger.finish_run(run, "succeeded", "done")
    if ledger.dialect == "sqlite":
        assert seen[:2] == ["PRAGMA synchronous=FULL", "BEGIN IMMEDIATE"], seen
        assert event_statements[:2] == ["PRAGMA synchronous=NORMAL", "BEGIN IMMEDIATE"], seen
        assert "PRAGMA synchronous=FULL" in seen[after_run + len(event_statements) :], seen
    else:
        assert event_statements[0] == "SET LOCAL synchronous_commit TO OFF", seen
        assert seen.count("SET LOCAL synchronous_commit TO OFF") == 1, seen
    assert [e.message for e in ledger.run_events(run)] == ["planned"]


def test_events_survive_sigkill_right_after_they_are_written(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    script = textwrap.dedent(
        f"""
        import os, signal
        from gripctl.ledger import open_ledger
        ledger = open_ledger({url!r})
        run = ledger.start_run("staging", "deploy", "alice", None, None)
        for i in range(50):
            ledger.event(run, "note", f"event {{i}}")
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr
    ledger = open_ledger(url)
    try:
        run = ledger.runs(limit=1)[0]
        assert [e.message for e in ledger.run_events(run.id)] == [f"event {i}" for i in range(50)]
    finally:
        ledger.close()
