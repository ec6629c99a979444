"""Two runs for one environment: a race at the same instant, and a run stopped past its lease.

- Two `gripctl deploy` processes started together, 20 times (racers.py: each plans, then both ask for
  the lock within a millisecond of each other): each time exactly one deploys (one new helm revision,
  one run with an action) and the other is refused with exit 75 naming the holder, and neither mistakes
  the other for a crashed run.
- A run whose heartbeat stops (SIGSTOP) past its lease: another run takes over, recovers what it left,
  and deploys; the stopped run, continued, notices it lost the lock and changes nothing more — not the
  cluster, and not the records the other run's recovery closed.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from chaos_helpers import (
    assert_ledger_matches_helm,
    deployed_version,
    history,
    ledger_of,
    run,
    start_cli,
)
from engine_platforms import SynthPlatform

from gripctl.adapters.helm import KubeTarget
from gripctl.errors import ExitCode
from gripctl.ledger.types import ActionOutcome, RunOutcome

ROUNDS = 20
RACERS = Path(__file__).with_name("racers.py")


def _deploy(sp: SynthPlatform, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "gripctl.cli.app", "-C", str(sp.root), "deploy", "-e", sp.environment],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
        start_new_session=True,
    )


async def test_two_deploys_started_together_exactly_one_deploys(
    synth: Callable[..., SynthPlatform], kube_target: KubeTarget
) -> None:
    sp = synth({"010-a": []})
    args = ["-C", str(sp.root), "deploy", "-e", sp.environment, "--skip-validation"]
    zygote = subprocess.Popen(
        [sys.executable, str(RACERS), "2", "--", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert zygote.stdin is not None and zygote.stdout is not None
    try:
        for i in range(1, ROUNDS + 1):
            sp.set_values("010-a", version=f"v{i}")
            zygote.stdin.write("go\n")
            zygote.stdin.flush()
            result = json.loads(zygote.stdout.readline())
            racers = result["racers"]
            assert result["arrived"] == 2, (i, racers)
            codes = sorted(r["code"] for r in racers)
            assert codes == [0, ExitCode.LOCKED], (i, racers)
            loser = next(r["stderr"] for r in racers if r["code"] == ExitCode.LOCKED)
            assert "is locked by another run" in loser and "hint:" in loser, loser
            assert "Traceback" not in loser, loser
            entries = await history(sp, kube_target, "010-a")  # helm keeps the last 10 revisions
            assert entries[-1].revision == i and entries[-1].status == "deployed", (i, entries)
            assert await deployed_version(sp, kube_target, "010-a") == f"v{i}"
    finally:
        zygote.stdin.close()
        zygote.wait(timeout=60)
    led = ledger_of(sp)
    runs = [led.run(r.id) for r in led.runs(sp.environment, limit=2 * ROUNDS)]
    outcomes = sorted(r.outcome.value for r in runs if r is not None)
    assert outcomes == sorted(["succeeded"] * ROUNDS + ["refused"] * ROUNDS), outcomes
    assert all(len(r.actions) == 1 for r in runs if r is not None and r.outcome is RunOutcome.succeeded)
    # Nobody took a live rival for a crashed run (its run is `running` while it asks for the lock).
    recovered = [e.message for r in runs if r is not None for e in r.events if e.kind == "recovered"]
    assert recovered == [], recovered
    await assert_ledger_matches_helm(sp, kube_target, sp.ids)


async def test_a_run_stopped_past_its_lease_is_taken_over_and_changes_nothing_more(
    synth: Callable[..., SynthPlatform], kube_target: KubeTarget
) -> None:
    """The run stops itself (SIGSTOP, killpoint.py) as it starts verifying 010-a: its heartbeat stops
    with it. Past its lease another run takes over, recovers 010-a and deploys 020-b; continued, the
    stopped run finds it lost the lock before its next action and changes nothing more."""
    lease = 5  # GRIPCTL_LEASE_SECONDS of the stopped run: its lease expires 5 s after its last renewal
    sp = synth({"010-a": [], "020-b": ["010-a"]})
    stopped = start_cli(
        sp,
        kill_at="gripctl.engine.ports:LiveCluster.verify",
        stop=True,
        env={"GRIPCTL_LEASE_SECONDS": str(lease)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        await _until_stopped(stopped)
        stopped_at = time.monotonic()
        led = ledger_of(sp)
        first = led.runs(limit=1)[0]
        await asyncio.sleep(lease + 1)  # past the lease: its holder is alive but silent
        taker = await run(sp, wait_lock=30)
        assert time.monotonic() - stopped_at < lease + 30
    finally:
        os.kill(stopped.pid, signal.SIGCONT)
    assert taker.result.outcome is RunOutcome.succeeded, taker.result.summary()
    assert taker.recovered == [
        "010-a: revision 1 was deployed and is healthy",
        f"run {first.id} marked interrupted",
    ]
    assert taker.result.releases["020-b"].phase.value == "healthy"
    after_takeover = {rid: await history(sp, kube_target, rid) for rid in sp.ids}
    closed_before = led.run(first.id)

    raw_out, raw_err = stopped.communicate(timeout=120)
    out, err = raw_out.decode(), raw_err.decode()
    assert stopped.returncode == 1, (stopped.returncode, out, err)
    assert "lost the lock" in out + err and "Traceback" not in err, out + err
    # It changed nothing more: not helm, and not what the taker's recovery recorded about its run.
    for rid in sp.ids:
        assert await history(sp, kube_target, rid) == after_takeover[rid], rid
    closed = led.run(first.id)
    assert closed is not None and closed_before is not None
    assert closed.outcome is RunOutcome.interrupted, closed.error
    assert closed.error == closed_before.error
    assert [(a.id, a.outcome, a.to_revision) for a in closed.actions] == [
        (a.id, a.outcome, a.to_revision) for a in closed_before.actions
    ]
    assert [(a.release_id, a.outcome) for a in closed.actions] == [("010-a", ActionOutcome.succeeded)]
    lost = [e.message for e in closed.events if e.kind == "lock"]
    assert any("lost the environment lock" in m for m in lost), lost
    await assert_ledger_matches_helm(sp, kube_target, sp.ids)


async def _until_stopped(proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    """Wait until the process stopped itself (state T in /proc/PID/stat)."""
    deadline = time.monotonic() + timeout
    stat = Path(f"/proc/{proc.pid}/stat")
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"gripctl ended (exit {proc.returncode}) before it stopped")
        if stat.read_text().rsplit(")", 1)[1].split()[0] == "T":
            return
        await asyncio.sleep(0.05)
    raise AssertionError("gripctl never reached its stop point")
