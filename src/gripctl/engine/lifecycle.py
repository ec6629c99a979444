"""One lifecycle for every run that changes the cluster (deploy, apply, rollback, recover, unlock).

`recorded_run` starts the run in the ledger, fans its events out (the ledger's timeline, the face's
progress, the sinks the core wires: incidents and notifications), announces it, takes the
environment lock, watches the cluster, and — whatever happens in its body — records the outcome,
announces the end, stops watching, releases the lock and closes the sinks. The body says when it
starts changing the cluster (`Run.acting`: before that, an error is a refusal) and sets the outcome.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from gripctl.adapters.helm import KubeTarget
from gripctl.adapters.kube import Kube
from gripctl.engine.actions import ActionContext
from gripctl.engine.events import Emitter, EventKind, EventSink
from gripctl.engine.locks import EnvLock
from gripctl.engine.ports import HelmPort, LiveCluster
from gripctl.engine.record import LedgerSink
from gripctl.engine.verify import ClusterView
from gripctl.errors import GripError, LockedError
from gripctl.ledger.store import Ledger
from gripctl.ledger.types import CommitInfo, RunKind, RunOutcome
from gripctl.model.types import Platform

# Builds a sink for one run of a platform (incidents, notifications); None when it has nothing to do.
SinkFactory = Callable[[Platform, int], EventSink | None]


@dataclass
class World:
    """The adapters a run acts through, built once by the service for one environment."""

    platform: Platform
    ledger: Ledger
    kube: Kube
    target: KubeTarget
    helm: HelmPort


@dataclass
class Run:
    """A run in progress: its id, its event fan-out, the action context, and the outcome its body sets."""

    run_id: int
    emitter: Emitter
    ctx: ActionContext
    view: ClusterView
    outcome: RunOutcome = RunOutcome.refused
    error: str | None = "refused before changing anything"
    summary: str = ""

    def acting(self) -> None:
        """From here on the run changes the cluster: an error ends it `failed`, not `refused`."""
        self.outcome, self.error = RunOutcome.failed, "the run stopped unexpectedly"

    def finish(self, outcome: RunOutcome, error: str | None = None, summary: str = "") -> None:
        self.outcome, self.error, self.summary = outcome, error, summary


def _wire(emitter: Emitter, platform: Platform, run_id: int, factories: Sequence[SinkFactory]) -> None:
    for factory in factories:
        try:
            sink = factory(platform, run_id)
        except Exception as exc:  # a broken notifier configuration must not block a run
            name = getattr(factory, "__name__", type(factory).__name__)
            emitter.emit(EventKind.note, f"event sink {name} disabled: {exc}")
            continue
        if sink is not None:
            emitter.add(sink)


def _still_open(ledger: Ledger, run_id: int, env: str) -> None:
    """After taking the lock: a run another run's recovery closed while it waited (a run on another
    host that waited longer than a lease looks like a crashed one) must not act under a closed record."""
    record = ledger.run(run_id)
    if record is not None and record.outcome is not RunOutcome.running:
        raise LockedError(
            f"run {run_id} was closed ({record.outcome.value}: {record.error}) while it waited for the lock "
            f"of environment {env!r}; it changed nothing",
            hint="run the command again",
        )


@contextlib.asynccontextmanager
async def recorded_run(
    world: World,
    kind: RunKind,
    actor: str,
    *,
    title: str,
    sinks: Sequence[EventSink] = (),
    sink_factories: Sequence[SinkFactory] = (),
    wait_lock: float = 0.0,
    git_commit: str | None = None,
    plan_digest: str | None = None,
    commits: Callable[[], Sequence[CommitInfo]] | None = None,
    view: ClusterView | None = None,
    data: dict[str, Any] | None = None,
) -> AsyncIterator[Run]:
    """A locked, recorded run around its body (see the module docstring). `view` is a cluster watch
    the caller already started (deploy starts it while planning); otherwise one is started here."""
    platform, ledger = world.platform, world.ledger
    env = platform.environment.name
    emitter = Emitter([LedgerSink(ledger), *sinks])
    run_id = ledger.start_run(env, kind, actor, git_commit, plan_digest)
    emitter.run_id = run_id
    shipped = 0
    if commits is not None:
        try:  # lead time loses one data point; the run goes on
            listed = commits()
            ledger.record_commits(run_id, listed)
            shipped = len(listed)
        except Exception as exc:
            print(f"warning: could not record the commits of run {run_id}: {exc}", file=sys.stderr)
    _wire(emitter, platform, run_id, sink_factories)
    emitter.emit(EventKind.run_started, title, run_kind=kind.value, commits=shipped, **(data or {}))
    lock = EnvLock(world.kube, ledger, env, run_id, emitter)
    outcome: RunOutcome = RunOutcome.refused
    error: str | None = "refused before changing anything"
    summary = ""
    run: Run | None = None
    try:
        await lock.acquire(wait_lock)
        _still_open(ledger, run_id, env)
        if view is None:
            view = ClusterView(world.kube)
            await view.start()
        cluster = LiveCluster(world.kube, view)
        ctx = ActionContext(platform, ledger, run_id, world.helm, cluster, emitter, guard=lock.ensure_held)
        run = Run(run_id, emitter, ctx, view)
        yield run
        outcome, error, summary = run.outcome, run.error, run.summary
    except GripError as exc:
        outcome, error = run.outcome if run is not None else outcome, exc.message
        raise
    except BaseException as exc:  # Ctrl-C / cancellation: recorded, and the next run recovers
        outcome, error = RunOutcome.interrupted, f"{type(exc).__name__}: {exc}"
        raise
    finally:
        if view is not None:
            view.stop()
        ledger.finish_run(run_id, outcome, error)
        emitter.emit(
            EventKind.run_finished,
            f"run {run_id} {outcome.value}: {summary or error or kind.value}",
            outcome=outcome.value,
            run_kind=kind.value,
        )
        await lock.release()
        emitter.close()
