"""adapters.process.run_async under cancellation: when one of several concurrent tool calls fails, the
others are cancelled, and gripctl must stop with the error, not hang (Python before 3.13 hangs a task
cancelled while asyncio connects a new child's pipes: python/cpython#103847). Also: a timeout kills the
child, and a failing tool is a ToolError with its stderr."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap

import pytest

from gripctl.adapters.process import run_async
from gripctl.errors import ToolError

# Many helm calls in flight, and one sibling failing at staggered moments: with asyncio's own
# subprocess transport some round hangs for ever in asyncio.run's clean-up (seen with `gripctl plan`
# and no age key). Run in a child interpreter so that a hang is a timeout here, not a stuck suite.
STORM = textwrap.dedent(
    """
    import asyncio
    from gripctl.adapters.process import run_async

    async def fail_after(delay):
        await asyncio.sleep(delay)
        raise RuntimeError("sibling failed")

    async def round_(delay):
        await asyncio.gather(*(run_async("helm", ["version"]) for _ in range(8)), fail_after(delay))

    failures = 0
    for i in range(30):
        try:
            asyncio.run(round_(0.001 * (i % 10)))
        except RuntimeError:
            failures += 1
    print(failures)
    """
)


def test_cancelled_tool_calls_never_hang_the_run() -> None:
    try:
        done = subprocess.run(
            [sys.executable, "-c", STORM], capture_output=True, text=True, timeout=120, check=False
        )
    except subprocess.TimeoutExpired:
        pytest.fail("asyncio.run hung while cancelling tool calls in flight")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "30", done.stdout + done.stderr  # every round ended with the error


def test_timeout_kills_the_child() -> None:
    marker = "37.4242"  # an unusual duration, to find this very child in the process table

    async def slow() -> None:
        await run_async("sleep", [marker], timeout=0.5)

    with pytest.raises(TimeoutError):
        asyncio.run(slow())
    left = subprocess.run(["pgrep", "-f", f"sleep {marker}"], capture_output=True, text=True, check=False)
    assert left.stdout.strip() == "", "the timed-out child is still running"


def test_failure_is_a_tool_error_with_stderr() -> None:
    async def bad() -> None:
        await run_async("helm", ["no-such-command"])

    with pytest.raises(ToolError, match="unknown command"):
        asyncio.run(bad())
