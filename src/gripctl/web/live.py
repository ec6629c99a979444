"""Live runs: deploys and rollbacks the server starts (each on a thread of its own, with its own event
loop, so that the engine never stalls the web server), and the event streams of any run.

One stream model for every run: a stream reads the run's events from the ledger by id (the ledger sink
records each event before anything else hears of it), so a run started by the CLI in another process
streams exactly like one started here, and a client that reconnects resumes after its Last-Event-ID.
For runs of this process a broker sink wakes the streams the moment an event is recorded; other runs
are polled.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from gripctl.engine.events import EngineEvent, EventSink
from gripctl.ledger.types import EventRecord, RunOutcome
from gripctl.service.runs import state_of
from gripctl.service.workspace import ledger_of

log = logging.getLogger(__name__)
POLL_SECONDS = 0.25  # runs of other processes (the CLI): how often a stream looks for new events
KEEPALIVE_SECONDS = 15.0
FINISH_GRACE_SECONDS = 3.0


class Broker:
    """Wakes the streams of a run when this process records one of its events."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self._waiters: dict[int, set[asyncio.Event]] = {}

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def notify(self, run_id: int) -> None:
        """Thread-safe: called by the sink on the run's own thread."""
        if self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self._wake, run_id)

    def _wake(self, run_id: int) -> None:
        for waiter in self._waiters.get(run_id, ()):
            waiter.set()

    async def wait(self, run_id: int, timeout: float) -> None:
        waiter = asyncio.Event()
        self._waiters.setdefault(run_id, set()).add(waiter)
        try:
            await asyncio.wait_for(waiter.wait(), timeout)
        except TimeoutError:
            pass
        finally:
            self._waiters[run_id].discard(waiter)
            if not self._waiters[run_id]:
                del self._waiters[run_id]


class _BrokerSink:
    """Placed after the ledger sink: when it hears an event, the event is in the ledger."""

    def __init__(self, broker: Broker, started: concurrent.futures.Future[int]) -> None:
        self.broker = broker
        self.started = started

    def handle(self, event: EngineEvent) -> None:
        if event.run_id is None:
            return
        if not self.started.done():
            self.started.set_result(event.run_id)
        self.broker.notify(event.run_id)

    def close(self) -> None:
        pass


class Runner:
    """Runs the engine for the server: each run on its own thread and event loop."""

    def __init__(self, broker: Broker, on_finished: Callable[[], None] | None = None) -> None:
        self.broker = broker
        self.on_finished = on_finished
        self.threads: set[threading.Thread] = set()

    def start(
        self, work: Callable[[Sequence[EventSink]], Awaitable[Any]], name: str
    ) -> concurrent.futures.Future[int]:
        """Start `work(sinks)` (a service call given the sinks to wire into its run); the future gives
        the run's id once it started, or the error that refused it before it did."""
        started: concurrent.futures.Future[int] = concurrent.futures.Future()
        sink = _BrokerSink(self.broker, started)

        def target() -> None:
            try:
                asyncio.run(_awaited(work([sink])))
            except BaseException as exc:  # reported to the requester, or logged once the run started
                if not started.done():
                    started.set_exception(exc)
                else:
                    log.warning("%s ended with %s: %s", name, type(exc).__name__, exc)
            finally:
                if not started.done():
                    started.set_exception(RuntimeError(f"{name} ended without starting a run"))
                self.threads.discard(threading.current_thread())
                if self.on_finished is not None:
                    self.on_finished()

        thread = threading.Thread(target=target, name=f"gripctl-{name}", daemon=True)
        self.threads.add(thread)
        thread.start()
        return started

    def join(self, timeout: float) -> None:
        for thread in list(self.threads):
            thread.join(timeout)


async def _awaited(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


def event_dict(e: EventRecord) -> dict[str, Any]:
    data = dict(e.data or {})
    phase = data.get("phase")
    return {
        "id": e.id,
        "run_id": e.run_id,
        "kind": e.kind,
        "release": e.release_id,
        "phase": phase,
        "state": state_of(phase),
        "message": e.message,
        "ts": e.ts.isoformat(),
        "data": data,
    }


def sse(event: dict[str, Any]) -> bytes:
    return f"id: {event['id']}\nevent: {event['kind']}\ndata: {json.dumps(event)}\n\n".encode()


async def stream(root: Any, run_id: int, after: int, broker: Broker) -> AsyncIterator[bytes]:
    """The run's events after `after`, as Server-Sent Events, until the run is over."""
    ledger = ledger_of(root)
    idle = 0.0
    ended_at: float | None = None  # when the ledger first said the run is over
    yield b"retry: 1000\n\n"
    while True:
        events = await asyncio.to_thread(ledger.run_events, run_id, after)
        for e in events:
            after = e.id
            yield sse(event_dict(e))
        if any(e.kind == "run-finished" for e in events):
            break
        if not events:
            record = await asyncio.to_thread(ledger.run_summary, run_id)
            if record is None:
                break
            if record.outcome is not RunOutcome.running:
                # The outcome is recorded a moment before the run-finished event: wait for that event a
                # little (a run killed before it could write one has none), then say goodbye.
                loop_time = asyncio.get_running_loop().time()
                ended_at = ended_at if ended_at is not None else loop_time
                if loop_time - ended_at > FINISH_GRACE_SECONDS:
                    break
        if events:
            idle = 0.0
            continue
        await broker.wait(run_id, POLL_SECONDS)
        idle += POLL_SECONDS
        if idle >= KEEPALIVE_SECONDS:
            idle = 0.0
            yield b": keep-alive\n\n"
    yield f"event: end\ndata: {json.dumps({'run_id': run_id})}\n\n".encode()
