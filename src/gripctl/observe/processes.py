"""Helm processes on this host: is one operating on a release right now (by its command line)?"""

from __future__ import annotations

import os
from pathlib import Path


def helm_running_for(name: str, namespace: str) -> bool:
    """True when a `helm` process on this host names this release and namespace in its arguments.

    A `kill -9` of gripctl leaves its helm running, and helm usually finishes; a release `pending-*`
    with such a process is busy, not stuck. Other hosts cannot be seen: there the release's timeout
    decides (see the plan's rule for locked releases).
    """
    proc = Path("/proc")
    if not proc.is_dir():
        return False
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"helm") and name.encode() in argv and namespace.encode() in argv:
            return True
    return False
