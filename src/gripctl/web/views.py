"""What the pages show that is costly to compute, computed off the request path and kept current:
each environment's release status (health and drift need the cluster: refreshed every `every` seconds
and after each run this server finishes), and the DORA figures (recomputed only when the ledger's
runs or incidents moved since)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gripctl.service.metrics import MetricsRequest, TrendsRequest, metrics, trends
from gripctl.service.status import StatusRequest, StatusResult, environments, status
from gripctl.service.workspace import ledger_of

log = logging.getLogger(__name__)


@dataclass
class Observed:
    result: StatusResult | None
    error: str | None
    at: float  # time.time()


@dataclass
class StatusViews:
    root: Path
    every: float = 60.0
    observed: dict[str, Observed] = field(default_factory=dict)
    _wake: asyncio.Event | None = None

    def get(self, environment: str) -> Observed | None:
        return self.observed.get(environment)

    def refresh_soon(self) -> None:
        """Thread-safe: look again now (a run finished)."""
        wake, loop = self._wake, getattr(self, "_loop", None)
        if wake is not None and loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(wake.set)

    async def refresh(self) -> None:
        for info in await asyncio.to_thread(environments, self.root):
            try:
                # Its own event loop on a thread: rendering and diffing never stall the server's loop.
                result = await asyncio.to_thread(asyncio.run, status(StatusRequest(self.root, info.name)))
                self.observed[info.name] = Observed(result, None, time.time())
            except Exception as exc:
                message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
                previous = self.observed.get(info.name)
                self.observed[info.name] = Observed(
                    previous.result if previous else None, message, time.time()
                )

    async def run(self, stop: asyncio.Event) -> None:
        self._wake = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        while not stop.is_set():
            self._wake.clear()
            try:
                await self.refresh()
            except Exception:
                log.exception("status refresh failed")
            waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
            _, pending = await asyncio.wait(waits, timeout=self.every, return_when=asyncio.FIRST_COMPLETED)
            for p in pending:
                p.cancel()


@dataclass
class Memo:
    """Results computed from the ledger (and the last status look), kept until either moves: the
    overview asks the same questions of twenty environments on every visit."""

    root: Path
    _cache: dict[tuple[Any, ...], tuple[Any, Any]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, key: tuple[Any, ...], version: Any, compute: Any) -> Any:
        mark = (ledger_of(self.root).change_marker(), version)
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and hit[0] == mark:
            return hit[1]
        value = compute()
        with self._lock:
            self._cache[key] = (mark, value)
            if len(self._cache) > 512:
                self._cache.pop(next(iter(self._cache)))
        return value


@dataclass
class DoraViews:
    """The DORA page's figures, recomputed when the ledger's change marker moved (or after `ttl`)."""

    root: Path
    ttl: float = 300.0
    _cache: dict[tuple[Any, ...], tuple[tuple[int, ...], float, Any]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _cached(self, key: tuple[Any, ...], compute: Any) -> Any:
        marker = ledger_of(self.root).change_marker()
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and hit[0] == marker and time.monotonic() - hit[1] < self.ttl:
            return hit[2]
        value = compute()
        with self._lock:
            self._cache[key] = (marker, time.monotonic(), value)
        return value

    def report(self, envs: tuple[str, ...], since: str = "90d") -> Any:
        ledger = ledger_of(self.root)
        return self._cached(
            ("report", envs, since),
            lambda: metrics(MetricsRequest(self.root, envs, since), ledger),
        )

    def trends(self, envs: tuple[str, ...], weeks: int = 12) -> Any:
        ledger = ledger_of(self.root)
        return self._cached(
            ("trends", envs, weeks), lambda: trends(TrendsRequest(self.root, envs, weeks), ledger)
        )
