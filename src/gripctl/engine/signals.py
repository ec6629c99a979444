"""What users feel, during verification and the monitoring window: the release's Prometheus queries.

A `PrometheusWatch` polls each `health.prometheus` query of a release while it is verified and
watched, keeps every sample (`plan.health.QueryHistory`) and judges them with the pure rules of
`plan/health.py`: a value outside its bounds for the query's `for` duration is a breach, and the
release fails with the query, the value and the threshold in its reason. A Prometheus that does not
answer is a failure too, unless the environment says `on_unreachable: warn`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence

from gripctl.adapters.prometheus import Prometheus, PrometheusError, PrometheusUnreachable
from gripctl.model.types import OnUnreachable, PrometheusCheck, PrometheusSettings
from gripctl.plan.health import QueryHistory

POLL_SECONDS = 2.0  # how often the queries are asked while a release is verified and watched


class PrometheusWatch:
    """The release's queries, polled in the background; `failure` is set once one is breached."""

    def __init__(
        self,
        settings: PrometheusSettings,
        checks: Sequence[PrometheusCheck],
        *,
        warn: Callable[[str], None] = lambda _message: None,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self.settings, self.warn, self.poll_seconds = settings, warn, poll_seconds
        self.histories = [QueryHistory(check) for check in checks]
        self.failure: str | None = None
        self.changed = asyncio.Event()  # set when `failure` is
        self._task: asyncio.Task[None] | None = None
        self._prom: Prometheus | None = None
        self._polling = asyncio.Lock()  # a background round and check_now() never interleave samples
        self._warned = False

    def start(self) -> None:
        if self.histories and self._task is None:
            self._prom = Prometheus(self.settings.url, timeout_seconds=self.settings.timeout_seconds)
            self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._prom is not None:
            await self._prom.aclose()
            self._prom = None

    async def check_now(self) -> str | None:
        """One more round of queries now (the rollout just became healthy): the failure, or None."""
        if self._prom is not None and self.failure is None:
            async with self._polling:
                await self.poll(self._prom)
        return self.failure

    async def _run(self) -> None:
        assert self._prom is not None
        while True:
            async with self._polling:
                await self.poll(self._prom)
            if self.failure is not None:
                self.changed.set()
                return
            await asyncio.sleep(self.poll_seconds)

    async def poll(self, prom: Prometheus) -> None:
        """Ask every query once and judge; sets `failure` on a breach or an unreachable server."""
        now = time.time()
        for history in self.histories:
            try:
                result = await prom.query(history.check.query)
            except PrometheusUnreachable as exc:
                if self.settings.on_unreachable is OnUnreachable.warn:
                    if not self._warned:
                        self._warned = True
                        self.warn(f"{exc.message}; health queries skipped (on_unreachable: warn)")
                    return
                self.failure = f"health query {history.check.label!r} not checked: {exc.message}"
                return
            except PrometheusError as exc:
                self.failure = f"health query {history.check.label!r} failed: {exc.message}"
                return
            history.record(now, {s.series: s.value for s in result.samples})
            verdict = history.evaluate()
            if verdict.breached:
                self.failure = f"Prometheus at {self.settings.url}: {verdict.reason}"
                return
