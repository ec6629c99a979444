"""Running external programs: one place for subprocess handling, stdin piping, and error reporting.

Secrets reach child processes only through `stdin` (a pipe), never through argv or files: argv is
visible in /proc to every user, files outlive crashes.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from gripctl.adapters.toolchain import find_tool, tool_env
from gripctl.errors import ToolError


@dataclass(frozen=True)
class Completed:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def _argv(tool: str, args: Sequence[str]) -> list[str]:
    return [find_tool(tool), *args]


# helm and sops are short-lived Go processes: Go's garbage collector costs them about a sixth of their
# CPU for memory they would free at exit anyway. Collect only past a generous ceiling (large charts stay
# safe). Not for kwokctl: the control plane it starts would inherit the setting.
SHORT_LIVED_GO_TOOLS = frozenset({"helm", "sops"})
SHORT_LIVED_GO = {"GOGC": "off", "GOMEMLIMIT": "1GiB"}


def _env(tool: str, extra: Mapping[str, str] | None) -> dict[str, str]:
    env = tool_env()
    if tool in SHORT_LIVED_GO_TOOLS:
        for key, value in SHORT_LIVED_GO.items():
            env.setdefault(key, value)
    if extra:
        env.update(extra)
    return env


def _completed(
    tool: str, args: Sequence[str], argv: list[str], returncode: int, out: bytes, err: bytes, check: bool
) -> Completed:
    """The outcome of a finished child; a ToolError with its stderr when `check` and it failed."""
    result = Completed(tuple(argv), returncode, out.decode(errors="replace"), err.decode(errors="replace"))
    if check and not result.ok:
        raise tool_failure(tool, args, returncode, result.stderr or result.stdout)
    return result


def tool_failure(tool: str, args: Sequence[str], returncode: int, output: str) -> ToolError:
    """The error of a tool call that failed: the command, its exit code and what it printed."""
    return ToolError(f"{tool} {' '.join(args[:2])} failed (exit {returncode}): {output.strip()}")


def run(
    tool: str,
    args: Sequence[str],
    *,
    stdin: bytes | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    timeout: float | None = None,
    cwd: str | None = None,
) -> Completed:
    """Run a tool synchronously; raise ToolError with its stderr when `check` and it fails."""
    argv = _argv(tool, args)
    proc = subprocess.run(
        argv, input=stdin, capture_output=True, env=_env(tool, env), timeout=timeout, cwd=cwd, check=False
    )
    return _completed(tool, args, argv, proc.returncode, proc.stdout, proc.stderr, check)


# A child is waited for by a blocking `communicate()` in a thread of this pool, not by asyncio's
# subprocess transport: on Python before 3.13, a task cancelled while asyncio connects a new child's
# pipes waits forever (python/cpython#103847, #133536). With several helm calls in flight, one failure
# (or Ctrl-C) cancels the others, and gripctl hung instead of printing the error. A child whose caller
# went away is stopped here (`_stop`); the thread waiting on it then returns.
_WAITERS = ThreadPoolExecutor(max_workers=64, thread_name_prefix="gripctl-tool")
# A child that is stopped gets SIGTERM and this long to exit before SIGKILL: helm, told to stop, records
# the release as failed; killed outright it leaves it pending-* (locked) for the next run to untangle.
STOP_GRACE_SECONDS = 10.0


async def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        await asyncio.get_running_loop().run_in_executor(_WAITERS, proc.wait, STOP_GRACE_SECONDS)
    except (subprocess.TimeoutExpired, asyncio.CancelledError):
        proc.kill()


async def run_async(
    tool: str,
    args: Sequence[str],
    *,
    stdin: bytes | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    timeout: float | None = None,
    cwd: str | None = None,
) -> Completed:
    """Run a tool concurrently with others (helm calls in parallel); killed on timeout or cancel."""
    argv = _argv(tool, args)
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(tool, env),
        cwd=cwd,
    )
    waiting = asyncio.get_running_loop().run_in_executor(_WAITERS, proc.communicate, stdin)
    try:
        out, err = await asyncio.wait_for(waiting, timeout)
    except (TimeoutError, asyncio.CancelledError):
        await _stop(proc)
        raise
    assert proc.returncode is not None
    return _completed(tool, args, argv, proc.returncode, out, err, check)
