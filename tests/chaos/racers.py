"""Start several real `gripctl` CLI processes at the same instant, as often as asked.

    python tests/chaos/racers.py N -- GRIPCTL ARGS...

A zygote: it imports gripctl once, then for each line read on stdin forks N children that each run the
unmodified CLI (`gripctl.cli.app.main`) with ARGS. Every child plans on its own, then waits at the door
of the environment lock (`EnvLock.acquire`) until all N are there, and all are let in at once: they
ask for the lock within a millisecond of each other, which is the race the test is about. One JSON
line per round on stdout: each child's exit code and the tail of its stderr.

Why a zygote: forking a warm interpreter saves each racer ~1 s of imports on a 2-core machine, and
20 rounds of two racers would otherwise spend most of their time starting Python.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from typing import Any


def _child(args: list[str], ready_w: int, go_r: int, err_path: str) -> None:
    from gripctl.engine.locks import EnvLock

    acquire = EnvLock.acquire

    async def at_the_door(self: EnvLock, wait_seconds: float = 0.0) -> None:
        os.write(ready_w, b"r")
        os.close(ready_w)  # the zygote sees EOF once every racer arrived or died on the way
        os.read(go_r, 1)  # blocks until every racer is here
        await acquire(self, wait_seconds)

    EnvLock.acquire = at_the_door  # type: ignore[method-assign]
    fd = os.open(err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(fd, 2)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    from gripctl.cli.app import main

    sys.argv = ["gripctl", *args]
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        os._exit(code)
    os._exit(0)


def _round(n: int, args: list[str], scratch: str) -> dict[str, Any]:
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    pids: list[tuple[int, str]] = []
    for i in range(n):
        err = os.path.join(scratch, f"racer-{i}.err")
        pid = os.fork()
        if pid == 0:
            os.close(ready_r)
            os.close(go_w)
            _child(args, ready_w, go_r, err)
        pids.append((pid, err))
    os.close(ready_w)
    os.close(go_r)
    arrived = 0
    while arrived < n:  # a racer that fails before the lock never arrives: its pipe end closes
        got = os.read(ready_r, n - arrived)
        if not got:
            break
        arrived += len(got)
    os.write(go_w, b"g" * n)
    os.close(go_w)
    os.close(ready_r)
    out: list[dict[str, Any]] = []
    for pid, err in pids:
        _, status = os.waitpid(pid, 0)
        with open(err, errors="replace") as f:
            text = f.read()
        out.append({"code": os.waitstatus_to_exitcode(status), "stderr": text[-2000:]})
    return {"arrived": arrived, "racers": out}


def main(argv: list[str]) -> None:
    split = argv.index("--")
    n, args = int(argv[0]), argv[split + 1 :]
    # The heavy imports a deploy makes, done once here (the children inherit them).
    import gripctl.cli.app
    import gripctl.cli.deploy
    import gripctl.service.deploy  # noqa: F401

    with tempfile.TemporaryDirectory() as scratch:
        for _line in sys.stdin:
            print(json.dumps(_round(n, args, scratch)), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
