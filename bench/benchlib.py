"""Shared parts of the scale and helmfile benchmarks: whole CLI processes timed with their peak memory,
the synthetic platforms of a realistic shape, and the machine's load.

A tool is measured as an operator runs it: one process started from a shell (interpreter start-up and
imports included), its wall time, its exit code, and the peak resident memory of it and of every
process it starts, sampled from /proc while it runs (VmHWM is a high-water mark, so a sample late in a
process's life holds its peak) and checked against the kernel's own figure for the whole tree
(`wait4`'s ru_maxrss: the largest of the process and its waited-for descendants).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "engine"))

from engine_platforms import SynthPlatform, make_platform  # noqa: E402

from gripctl.adapters.kube import Kube  # noqa: E402

GRIPCTL = str(ROOT / ".venv" / "bin" / "gripctl")
SAMPLE_SECONDS = 0.05


@dataclass
class Proc:
    """One finished CLI process: what it printed, how long it took, and memory peaks by program."""

    argv: list[str]
    returncode: int
    seconds: float
    stdout: str
    stderr: str
    tree_maxrss_mb: float  # wait4: the process or its largest descendant
    cpu_seconds: float  # user + system CPU of the process and every descendant it waited for
    peaks_mb: dict[str, float] = field(default_factory=dict)  # program name -> largest VmHWM seen
    spawned: dict[str, int] = field(default_factory=dict)  # program name -> processes seen
    # program name -> CPU seconds, as last sampled (a short-lived helm may finish between samples)
    cpu_by_program: dict[str, float] = field(default_factory=dict)

    def check(self, *ok: int) -> Proc:
        if self.returncode not in (ok or (0,)):
            tail = (self.stderr or self.stdout)[-3000:]
            raise SystemExit(f"{' '.join(self.argv[:6])} ... exited {self.returncode}:\n{tail}")
        return self


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return out


TICK = os.sysconf("SC_CLK_TCK")


def _status(pid: int) -> tuple[str, float, float] | None:
    """(program name, VmHWM in MB, CPU seconds so far) of a live process, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            text = f.read()
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
    except OSError:
        return None
    cpu = (int(fields[11]) + int(fields[12])) / TICK  # utime, stime
    hwm = 0.0
    for line in text.splitlines():
        if line.startswith("VmHWM:"):
            hwm = int(line.split()[1]) / 1024
    # The program, by the basename of argv[0]; a Python interpreter by its script (gripctl's console
    # script runs as `python .venv/bin/gripctl`).
    name = os.path.basename(argv[0].decode(errors="replace")) if argv and argv[0] else "?"
    if name.startswith("python") and len(argv) > 1 and argv[1]:
        name = os.path.basename(argv[1].decode(errors="replace"))
    return name, hwm, cpu


def run_cli(
    argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None, name: str = ""
) -> Proc:
    """Run one CLI process to completion; its wall time and the memory peaks of its process tree.

    The process itself is reported under `name` (default: its program name)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        list(argv),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(env) if env is not None else None,
        cwd=cwd,
        text=True,
    )
    peaks: dict[str, float] = {}
    seen: dict[int, str] = {}
    cpu: dict[int, float] = {}
    done = threading.Event()
    own = name or os.path.basename(argv[0])

    def sample() -> None:
        while not done.is_set():
            stack = [proc.pid]
            while stack:
                pid = stack.pop()
                st = _status(pid)
                if st is not None:
                    program = own if pid == proc.pid else st[0]
                    seen.setdefault(pid, program)
                    cpu[pid] = st[2]
                    peaks[program] = max(peaks.get(program, 0.0), st[1])
                stack += _children(pid)
            done.wait(SAMPLE_SECONDS)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out: list[str] = []
    err: list[str] = []
    readers = [
        threading.Thread(target=lambda: out.append(proc.stdout.read() if proc.stdout else ""), daemon=True),
        threading.Thread(target=lambda: err.append(proc.stderr.read() if proc.stderr else ""), daemon=True),
    ]
    for r in readers:
        r.start()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    for r in readers:
        r.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    spawned: dict[str, int] = {}
    cpu_by_program: dict[str, float] = {}
    for pid, program in seen.items():
        spawned[program] = spawned.get(program, 0) + 1
        cpu_by_program[program] = cpu_by_program.get(program, 0.0) + cpu.get(pid, 0.0)
    return Proc(
        list(argv),
        proc.returncode,
        seconds,
        "".join(out),
        "".join(err),
        usage.ru_maxrss / 1024,
        usage.ru_utime + usage.ru_stime,
        peaks,
        spawned,
        cpu_by_program,
    )


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.1f}/{five:.1f}/{fifteen:.1f} on {os.cpu_count()} cores"


def release_id(i: int) -> str:
    return f"{100 + i:03d}-s{i:03d}"


def scale_needs(n: int) -> dict[str, list[str]]:
    """A platform of `n` releases shaped like a real one: one core release everything needs, stacks
    (chains) of ten on it, and every fourth stack built on the stack before (a chain of twenty), so
    that the longest chain is 21 releases from 100 releases on. Deterministic."""
    needs: dict[str, list[str]] = {release_id(0): []}
    rest = [release_id(i) for i in range(1, n)]
    chains = [rest[i : i + 10] for i in range(0, len(rest), 10)]
    for c, chain in enumerate(chains):
        head_needs = [release_id(0)]
        if c % 4 == 3:
            head_needs = [chains[c - 1][-1]]
        for j, rid in enumerate(chain):
            needs[rid] = head_needs if j == 0 else [chain[j - 1]]
    return needs


def synthetic(
    root: Path, n: int, *, namespace: str, kubeconfig: Path, context: str, concurrency: int
) -> SynthPlatform:
    """The synthetic platform of `n` releases: tests/engine's tiny chart (a Deployment and a headless
    Service), pods Ready 1 s after they start, like a small real service."""
    sp = make_platform(
        root,
        namespace=namespace,
        kubeconfig=kubeconfig,
        context=context,
        needs=scale_needs(n),
        timeout="180s",
        concurrency=concurrency,
    )
    for rid in sp.ids:
        sp.set_values(rid, inject="slow-ready", readyAfter="1s", headless=True)
    return sp


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def wait_gone(present: Callable[[], Any], what: str, timeout: float = 300) -> None:
    """Poll until `present()` is falsy; a benchmark that cannot clean up stops (SystemExit)."""
    deadline = time.monotonic() + timeout
    while present():
        if time.monotonic() > deadline:
            raise SystemExit(f"{what} still there after {timeout:.0f}s")
        time.sleep(1)


def settle(kube: Kube, timeout: float = 600) -> None:
    """Wait until no namespace is being deleted: a namespace of 300 releases takes the cluster a minute or
    more to empty, and a measurement taken meanwhile shares the two cores with that garbage collection."""
    started = time.monotonic()

    def terminating() -> list[str]:
        items = (kube.get_at("/api/v1/namespaces") or {}).get("items") or []
        return [n["metadata"]["name"] for n in items if (n.get("status") or {}).get("phase") == "Terminating"]

    wait_gone(terminating, "namespaces being deleted", timeout)
    if (waited := time.monotonic() - started) >= 1:
        print(f"  (waited {waited:.0f}s for the cluster to finish deleting namespaces)", flush=True)
