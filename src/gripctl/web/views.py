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
    overview asks the same questions of twenty environments on every visit. `marker` is the ledger's
    change marker, read once per request by the caller."""

    root: Path
    _cache: dict[tuple[Any, ...], tuple[Any, Any]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, key: tuple[Any, ...], marker: Any, compute: Any) -> Any:
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and hit[0] == marker:
            return hit[1]
        value = compute()
        with self._lock:
            self._cache[key] = (marker, value)
            if len(self._cache) > 512:
                self._cache.pop(next(iter(self._cache)))
        return value


@dataclass
class _Kept:
    marker: tuple[object, ...]
    at: float  # time.monotonic() of the computation
    value: Any
    compute: Any


@dataclass
class DoraViews:
    """The DORA figures the pages asked for. Computing them over a large ledger takes seconds, so a page
    never waits for it twice: the first request computes them; later ones get the kept figures at once,
    and when those are stale — a deploy finished or an incident moved since (`Ledger.dora_marker`), or
    older than `ttl` (the window slides) — they are computed again in the background, one at a time."""

    root: Path
    every: float = 5.0
    ttl: float = 600.0
    _kept: dict[tuple[Any, ...], _Kept] = field(default_factory=dict)
    _busy: threading.Lock = field(default_factory=threading.Lock)

    def _stale(self, kept: _Kept, marker: tuple[object, ...]) -> bool:
        return kept.marker != marker or time.monotonic() - kept.at > self.ttl

    def _compute(self, key: tuple[Any, ...], compute: Any) -> Any:
        marker = ledger_of(self.root).dora_marker()
        value = compute()
        self._kept[key] = _Kept(marker, time.monotonic(), value, compute)
        return value

    def _cached(self, key: tuple[Any, ...], compute: Any) -> Any:
        kept = self._kept.get(key)
        if kept is None:
            with self._busy:  # one computation at a time; a second asker finds the first's result
                kept = self._kept.get(key)
                if kept is None:
                    return self._compute(key, compute)
        if self._stale(kept, ledger_of(self.root).dora_marker()) and self._busy.acquire(blocking=False):

            def refresh() -> None:
                try:
                    self._compute(key, compute)
                except Exception:
                    log.exception("DORA refresh failed")
                finally:
                    self._busy.release()

            threading.Thread(target=refresh, name="gripctl-dora", daemon=True).start()
        return kept.value

    def report(self, envs: tuple[str, ...], since: str = "90d") -> Any:
        ledger = ledger_of(self.root)
        return self._cached(
            ("report", envs, since), lambda: metrics(MetricsRequest(self.root, envs, since), ledger)
        )

    def trends(self, envs: tuple[str, ...], weeks: int = 12) -> Any:
        ledger = ledger_of(self.root)
        return self._cached(
            ("trends", envs, weeks), lambda: trends(TrendsRequest(self.root, envs, weeks), ledger)
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Keep what was asked for current without a request paying for it."""
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), self.every)
                return
            except TimeoutError:
                pass
            try:
                marker = await asyncio.to_thread(ledger_of(self.root).dora_marker)
                for key, kept in list(self._kept.items()):
                    if stop.is_set() or not self._stale(kept, marker):
                        continue
                    if self._busy.acquire(blocking=False):
                        try:
                            await asyncio.to_thread(self._compute, key, kept.compute)
                        finally:
                            self._busy.release()
            except Exception:
                log.exception("DORA refresh failed")
