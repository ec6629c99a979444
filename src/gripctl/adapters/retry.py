"""Riding through a short outage of the Kubernetes API server: one policy for every caller.

An API server that restarts (an upgrade, a crash, etcd pausing) refuses connections or answers 5xx for
seconds. The engine's calls — the Kubernetes API client's requests and helm's — are retried with
capped exponential backoff while the outage lasts, up to a budget (the release's timeout: an outage
shorter than that is ridden through, a longer one fails the release cleanly with "is the cluster
up?" and the server's URL). What counts as an outage, and the message when the budget runs out, are
decided here and nowhere else.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from gripctl.errors import ClusterError

T = TypeVar("T")

# HTTP statuses of an API server that is up but cannot serve: overloaded (429), etcd unavailable or
# timing out (500 "etcdserver: request timed out", 503, 504), a proxy in front of it failing (502).
TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})

# How helm (and client-go under it) words a cluster it could not reach or that could not serve.
# `kubernetes cluster unreachable` is helm's first check, before it reads or changes anything.
_HELM_TRANSIENT = re.compile(
    r"kubernetes cluster unreachable|connection refused|connection reset by peer|i/o timeout|"
    r"TLS handshake timeout|no route to host|http2: client connection lost|server sent GOAWAY|"
    r"unexpected EOF|: EOF\b|the server is currently unable to handle the request|"
    r"etcdserver: (request timed out|leader changed|too many requests)|Client\.Timeout exceeded|"
    r"the server was unable to return a response in the time allotted|"
    r"the server has received too many requests",
    re.IGNORECASE,
)
_HELM_BEFORE_ANYTHING = re.compile(r"kubernetes cluster unreachable", re.IGNORECASE)


def helm_transient(message: str) -> bool:
    """helm failed because it could not reach or be served by the API server (not a chart problem)."""
    return bool(_HELM_TRANSIENT.search(message))


def helm_changed_nothing(message: str) -> bool:
    """helm stopped at its reachability check (`kubernetes cluster unreachable`): it read nothing and
    changed nothing, so the same call may simply run again."""
    return bool(_HELM_BEFORE_ANYTHING.search(message))


@dataclass(frozen=True)
class Backoff:
    """Retry for up to `seconds`, waiting `first`, then twice as long each time, at most `cap`
    (each wait jittered by ±20 %, so that several callers do not hammer a server coming back in step)."""

    seconds: float
    first: float = 0.25
    cap: float = 2.0

    def waits(self) -> Iterator[float]:
        """The waits between attempts; stops when the next wait would end past the budget."""
        deadline = time.monotonic() + self.seconds
        wait = self.first
        while True:
            pause = min(wait, self.cap) * random.uniform(0.8, 1.2)
            if time.monotonic() + pause > deadline:
                return
            yield pause
            wait *= 2


_ERRNO = re.compile(r"\[Errno -?\d+\] ([^\"')\]]+)")


def short_cause(text: str) -> str:
    """The part of a connection error a person reads: `Connection refused`, not urllib3's pool repr."""
    if found := _ERRNO.search(text):
        return found.group(1).strip()
    for words in ("connection refused", "Read timed out", "timed out", "reset by peer", "EOF"):
        if words.lower() in text.lower():
            return words
    return text.strip().splitlines()[-1][:200] if text.strip() else "no answer"


def unreachable(server: str, context: str | None, cause: str, waited: float) -> ClusterError:
    """The one message for an API server that stayed unreachable for the whole budget."""
    for_how_long = f" for {waited:.0f}s" if waited >= 1 else ""
    return ClusterError(
        f"the Kubernetes API at {server} (context {context or '(current)'}) did not answer"
        f"{for_how_long} ({short_cause(cause)}): is the cluster up?",
        hint="check it (`kubectl cluster-info`; the sandbox: `gripctl sandbox status`); the next deploy "
        "recovers whatever this run left",
    )


def retry_sync(call: Callable[[], T], policy: Backoff, transient: Callable[[BaseException], bool]) -> T:
    """`call()`, again after each transient failure while the policy allows; the last error otherwise."""
    waits = policy.waits()
    while True:
        try:
            return call()
        except Exception as exc:
            if not transient(exc):
                raise
            pause = next(waits, None)
            if pause is None:
                raise
            time.sleep(pause)


async def retry_async(
    call: Callable[[], Awaitable[T]], policy: Backoff, transient: Callable[[BaseException], bool]
) -> T:
    waits = policy.waits()
    while True:
        try:
            return await call()
        except Exception as exc:
            if not transient(exc):
                raise
            pause = next(waits, None)
            if pause is None:
                raise
            await asyncio.sleep(pause)
