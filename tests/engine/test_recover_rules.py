"""Which `running` runs recovery takes for interrupted (engine/recover.py `on_its_way`).

Found by tests/chaos/test_lock_races.py: of two deploys started together, the winner's recovery took
the loser — alive, its run `running` while it asked for the lock — for a crashed run and marked it
interrupted (with the run-closed-once rule, the loser's `refused` was then lost).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import UTC, datetime

from gripctl.engine.locks import LEASE_SECONDS
from gripctl.engine.recover import on_its_way
from gripctl.ledger.types import EventRecord, RunKind, RunOutcome, RunRecord


def _run(host: str, pid: int, *, held: bool = False) -> RunRecord:
    now = datetime.now(UTC)
    events = (EventRecord(1, 7, None, now, "lock", "locked environment prod as x", {"acquired": True}),)
    return RunRecord(
        7, "prod", RunKind.deploy, "alice", host, pid, now, None, RunOutcome.running,
        None, None, None, None, None, (), events if held else (),
    )  # fmt: skip


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_live_rival_on_this_host_is_on_its_way() -> None:
    assert on_its_way(_run(socket.gethostname(), os.getpid()), age_seconds=3600) is True


def test_a_dead_process_that_never_held_the_lock_is_interrupted() -> None:
    assert on_its_way(_run(socket.gethostname(), _dead_pid()), age_seconds=0) is False


def test_a_run_that_held_the_lock_and_lost_it_is_interrupted_even_if_alive() -> None:
    # Stopped past its lease (SIGSTOP): alive, but the lock it held expired and was taken over.
    assert on_its_way(_run(socket.gethostname(), os.getpid(), held=True), age_seconds=0) is False


def test_a_run_on_another_host_is_given_one_lease_to_get_the_lock() -> None:
    assert on_its_way(_run("elsewhere", 1), age_seconds=1) is True
    assert on_its_way(_run("elsewhere", 1), age_seconds=LEASE_SECONDS + 1) is False
