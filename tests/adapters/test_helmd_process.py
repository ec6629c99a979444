"""The helper process under stress: cancelled callers never hang a run (python/cpython#103847 is why
adapters/process.py avoids asyncio's subprocess transport; the helper's pipes are read by a thread),
one helper serves every event loop of a process, and a helper that dies fails its callers with a
ToolError and is replaced on the next call."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from helmd_helpers import require_helper

from gripctl.adapters import helmd
from gripctl.adapters.helm import Values
from gripctl.errors import ToolError

CHART = {
    "Chart.yaml": "apiVersion: v2\nname: small\nversion: 0.1.0\n",
    "templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n",
}


def small_chart(root: Path) -> Path:
    for rel, text in CHART.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


# Many renders in flight and a sibling failing at staggered moments, in fresh event loops, like
# tests/unit/test_process.py does for helm processes. In a child interpreter: a hang is a timeout here.
STORM = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from gripctl.adapters import helmd
    from gripctl.adapters.helm import Values

    chart = Path(sys.argv[1])

    async def fail_after(delay):
        await asyncio.sleep(delay)
        raise RuntimeError("sibling failed")

    async def round_(delay):
        renders = (helmd.render_release_manifest_async(f"r{i}", chart, "ns", Values()) for i in range(8))
        await asyncio.gather(*renders, fail_after(delay))

    failures = 0
    for i in range(30):
        try:
            asyncio.run(round_(0.001 * (i % 10)))
        except RuntimeError:
            failures += 1
    # and the helper still answers afterwards, in yet another loop
    out = asyncio.run(helmd.render_release_manifest_async("after", chart, "ns", Values()))
    print(failures, "name: after" in out, helmd.enabled())
    """
)


def test_cancelled_helper_calls_never_hang_the_run(tmp_path: Path) -> None:
    require_helper()
    chart = small_chart(tmp_path / "small")
    try:
        done = subprocess.run(
            [sys.executable, "-c", STORM, str(chart)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("asyncio.run hung while cancelling helper calls in flight")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["30", "True", "True"], done.stdout + done.stderr


async def test_a_helper_that_dies_fails_its_callers_and_is_replaced(tmp_path: Path) -> None:
    helper = require_helper()
    chart = small_chart(tmp_path / "small")
    calls = [helmd.render_release_manifest_async(f"r{i}", chart, "ns", Values()) for i in range(200)]
    in_flight = [asyncio.ensure_future(c) for c in calls]
    await asyncio.sleep(0)  # the requests are written
    os.kill(helper._proc.pid, signal.SIGKILL)
    outcomes = await asyncio.wait_for(asyncio.gather(*in_flight, return_exceptions=True), timeout=30)
    failed = [o for o in outcomes if isinstance(o, BaseException)]
    assert all(isinstance(o, ToolError) for o in failed), failed
    assert all("gripctl-helmd exited unexpectedly" in str(o) for o in failed)
    assert all(isinstance(o, str) and "name: r" in o for o in outcomes if o not in failed)
    assert failed and not helper.alive  # killed while most were still waiting

    again = await helmd.render_release_manifest_async("again", chart, "ns", Values())
    assert "name: again" in again
    replacement = require_helper()
    assert replacement is not helper and replacement.alive


async def test_malformed_and_unknown_requests_are_answered_not_fatal() -> None:
    helper = require_helper()
    unknown = await helper.call("no-such-op")
    assert (unknown.exit, unknown.error) == (1, 'gripctl-helmd: unknown operation "no-such-op"')
    version = await helper.call("version")
    assert version.exit == 0 and version.stdout.startswith("v4.")
    assert helper.alive
