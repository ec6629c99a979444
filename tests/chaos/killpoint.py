"""Run the real `gripctl` CLI and `kill -9` it at an exact point of its code.

    python tests/chaos/killpoint.py MODULE:QUALNAME before|after [--group] [--stop] [--nth N] -- ARGS...

The function MODULE:QUALNAME (a method as `Class.method`) is wrapped so that on its Nth call the process
sends itself SIGKILL — `before` the function runs, or `after` it returned — and with `--group` its whole
process group too (the helm it runs). With `--stop` it sends SIGSTOP instead (the test continues it
with SIGCONT). Everything else is the unmodified CLI (`gripctl.cli.app.main`).

Why not poll and kill from outside: some points last microseconds (between "every release is healthy"
and the run being closed; between taking the ledger lock and the cluster Lease) and a poller would hit
them by luck only. A SIGKILL from inside is still a real `kill -9`: no cleanup runs, no finally block,
no atexit handler.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import os
import signal
import sys
from typing import Any


def _die(group: bool, sig: signal.Signals = signal.SIGKILL) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    if group:
        os.killpg(os.getpgid(0), sig)
    else:
        os.kill(os.getpid(), sig)


def patch(target: str, when: str, *, group: bool = False, nth: int = 1, stop: bool = False) -> None:
    module_name, qualname = target.split(":", 1)
    owner: Any = importlib.import_module(module_name)
    *path, attr = qualname.split(".")
    for part in path:
        owner = getattr(owner, part)
    original = inspect.getattr_static(owner, attr)
    if isinstance(original, staticmethod | classmethod):
        raise SystemExit(f"killpoint: {target} is a {type(original).__name__}: not supported")
    calls = {"n": 0}
    sig = signal.SIGSTOP if stop else signal.SIGKILL

    def due() -> bool:
        calls["n"] += 1
        return calls["n"] == nth

    if inspect.iscoroutinefunction(original):

        @functools.wraps(original)
        async def wrapper_async(*args: Any, **kwargs: Any) -> Any:
            kill = due()
            if kill and when == "before":
                _die(group, sig)
            result = await original(*args, **kwargs)
            if kill and when == "after":
                _die(group, sig)
            return result

        setattr(owner, attr, wrapper_async)
    else:

        @functools.wraps(original)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            kill = due()
            if kill and when == "before":
                _die(group, sig)
            result = original(*args, **kwargs)
            if kill and when == "after":
                _die(group, sig)
            return result

        setattr(owner, attr, wrapper)


def main(argv: list[str]) -> None:
    split = argv.index("--")
    own, cli = argv[:split], argv[split + 1 :]
    target, when, *flags = own
    if when not in ("before", "after"):
        raise SystemExit(f"killpoint: `before` or `after`, not {when!r}")
    nth = int(flags[flags.index("--nth") + 1]) if "--nth" in flags else 1
    patch(target, when, group="--group" in flags, nth=nth, stop="--stop" in flags)
    from gripctl.cli.app import main as gripctl_main

    sys.argv = ["gripctl", *cli]
    gripctl_main()


if __name__ == "__main__":
    main(sys.argv[1:])
