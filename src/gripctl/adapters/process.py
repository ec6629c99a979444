"""Running external programs: one place for subprocess handling, stdin piping, and error reporting.

Secrets reach child processes only through `stdin` (a pipe), never through argv or files: argv is
visible in /proc to every user, files outlive crashes.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Mapping, Sequence
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


def _fail(what: str, result: Completed) -> ToolError:
    detail = (result.stderr or result.stdout).strip()
    return ToolError(f"{what} failed (exit {result.returncode}): {detail}")


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
    result = Completed(
        tuple(argv),
        proc.returncode,
        proc.stdout.decode(errors="replace"),
        proc.stderr.decode(errors="replace"),
    )
    if check and not result.ok:
        raise _fail(f"{tool} {' '.join(args[:2])}", result)
    return result


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
    """Run a tool as an asyncio subprocess (for concurrent helm calls); killed on timeout or cancel."""
    argv = _argv(tool, args)
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_env(tool, env),
        cwd=cwd,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin), timeout)
    except (TimeoutError, asyncio.CancelledError):
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    result = Completed(
        tuple(argv), proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")
    )
    if check and not result.ok:
        raise _fail(f"{tool} {' '.join(args[:2])}", result)
    return result
