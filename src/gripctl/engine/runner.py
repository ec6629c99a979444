"""Runs releases through their actions: in dependency order, independent branches at once.

A release starts when every release it needs (within the run) is done *and healthy*. Each release is
driven by one loop — decide its next action (`engine/decide.py`), run it, decide again — until it is
done. After a failure nothing new starts (`halt`: dependents are skipped), or every release the run
changed is restored too, in reverse dependency order (`rollback-run`). Every step is an EngineEvent
for the sinks (progress, ledger, incidents, ...).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from gripctl.engine.actions import ActionContext
from gripctl.engine.decide import next_action
from gripctl.engine.events import EventKind, Phase
from gripctl.engine.options import OnFailure as OnFailure  # re-exported for the engine's callers
from gripctl.engine.release import Goal, ReleaseRun
from gripctl.errors import GripError
from gripctl.ledger.types import ActionOutcome, RunOutcome
from gripctl.plan.types import Action as PlanAction

MAX_STEPS = 12  # the longest honest path is unlock, upgrade, verify, rollback, verify


@dataclass(frozen=True)
class RunOptions:
    concurrency: int = 4
    on_failure: OnFailure = OnFailure.halt
    monitor_seconds: float = 0.0


@dataclass
class RunResult:
    run_id: int
    outcome: RunOutcome
    releases: dict[str, ReleaseRun] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def failed(self) -> list[ReleaseRun]:
        return [r for r in self.releases.values() if r.phase is Phase.failed]

    def summary(self) -> str:
        counts: dict[str, int] = {}
        for r in self.releases.values():
            counts[r.phase.value] = counts.get(r.phase.value, 0) + 1
        return ", ".join(f"{n} {p}" for p, n in sorted(counts.items()))

    def error(self) -> str | None:
        """One line for the run's record: the failed releases, else every release that has a reason."""
        failed = "; ".join(f"{r.id}: {r.reason}" for r in self.failed)
        if failed or self.outcome is RunOutcome.succeeded:
            return failed or None
        return "; ".join(f"{r.id}: {r.reason}" for r in self.releases.values() if r.reason) or None


async def drive(ctx: ActionContext, rr: ReleaseRun, *, monitor_seconds: float = 0.0) -> None:
    """Decide, act, decide again, until the release is done. An unexpected error fails this release
    (and completes its open ledger action), never the whole run."""
    rr.started = rr.started or time.time()
    try:
        while (action := next_action(rr, monitor_seconds=monitor_seconds)) is not None:
            rr.steps += 1
            if rr.steps > MAX_STEPS:  # a bug in an action that reports no progress: stop, loudly
                raise RuntimeError(f"no progress after {MAX_STEPS} steps (next: {action.name})")
            await ctx.guard()
            await action.run(ctx, rr)
    except GripError as exc:
        _crashed(ctx, rr, exc.message)
    except Exception as exc:  # a bug, but other branches keep their chance to finish cleanly
        _crashed(ctx, rr, f"internal error: {type(exc).__name__}: {exc}")
    finally:
        rr.finished = time.time()


def _crashed(ctx: ActionContext, rr: ReleaseRun, message: str) -> None:
    ctx.close_open(rr, ActionOutcome.failed, message)
    rr.failure, rr.gave_up = rr.failure or message, True
    rr.failed_at = rr.failed_at or time.time()
    ctx.phase(rr, Phase.failed, message)


class Runner:
    """The run's scheduler over a set of ReleaseRuns (in topological order, with their needs)."""

    def __init__(self, ctx: ActionContext, releases: Iterable[ReleaseRun], options: RunOptions) -> None:
        self.ctx, self.options = ctx, options
        self.runs: dict[str, ReleaseRun] = {rr.id: rr for rr in releases}
        self.deps = {rid: [n for n in rr.plan.needs if n in self.runs] for rid, rr in self.runs.items()}
        self._priority = self._longest_chains()

    def _longest_chains(self) -> dict[str, int]:
        """Releases with the longest chain of dependents go first: that is what bounds the run."""
        dependents: dict[str, list[str]] = {rid: [] for rid in self.runs}
        for rid, deps in self.deps.items():
            for d in deps:
                dependents[d].append(rid)
        memo: dict[str, int] = {}

        def depth(rid: str) -> int:
            if rid not in memo:
                memo[rid] = 1 + max((depth(d) for d in dependents[rid]), default=0)
            return memo[rid]

        return {rid: depth(rid) for rid in self.runs}

    def _settle(self, pending: list[str], halted_by: str | None) -> None:
        """Resolve skips and no-ops (which can unblock each other) without starting anything."""
        progressed = True
        while progressed:
            progressed = False
            for rid in list(pending):
                rr, deps = self.runs[rid], [self.runs[d] for d in self.deps[rid]]
                bad = [d for d in deps if d.phase.done and not d.phase.ok]
                if bad:
                    self.ctx.phase(
                        rr, Phase.skipped, f"skipped: needs {bad[0].id}, which {bad[0].phase.value}"
                    )
                elif halted_by is not None:
                    self.ctx.phase(rr, Phase.skipped, f"skipped: the run halted after {halted_by} failed")
                elif rr.plan.action is PlanAction.noop and all(d.phase.ok for d in deps):
                    self.ctx.phase(rr, Phase.unchanged, "in sync: nothing to do")
                else:
                    continue
                pending.remove(rid)
                progressed = True

    async def run(self) -> RunResult:
        started = time.monotonic()
        order = {rid: i for i, rid in enumerate(self.runs)}
        pending = list(self.runs)
        running: dict[asyncio.Task[None], str] = {}
        halted_by: str | None = None
        while pending or running:
            self._settle(pending, halted_by)
            ready = [rid for rid in pending if all(self.runs[d].phase.ok for d in self.deps[rid])]
            ready.sort(key=lambda rid: (-self._priority[rid], order[rid]))
            for rid in ready:
                if len(running) >= max(1, self.options.concurrency):
                    break
                pending.remove(rid)
                task = asyncio.create_task(
                    drive(self.ctx, self.runs[rid], monitor_seconds=self.options.monitor_seconds)
                )
                running[task] = rid
            if not running:
                break
            done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                rid = running.pop(task)
                if not self.runs[rid].phase.ok:
                    halted_by = halted_by or rid
        for rid in pending:  # unreachable in a well-formed plan; never leave a release undecided
            self.ctx.phase(self.runs[rid], Phase.skipped, "skipped: its needs never completed")
        if halted_by is not None and self.options.on_failure is OnFailure.rollback_run:
            await self._rollback_run()
        return RunResult(self.ctx.run_id, self._outcome(), self.runs, time.monotonic() - started)

    def _outcome(self) -> RunOutcome:
        phases = {r.phase for r in self.runs.values()}
        if Phase.failed in phases:
            return RunOutcome.failed
        if phases & {Phase.rolled_back, Phase.uninstalled, Phase.skipped}:
            return RunOutcome.rolled_back
        return RunOutcome.succeeded

    async def _rollback_run(self) -> None:
        """--on-failure rollback-run: every release this run changed and left changed, restored in
        reverse dependency order (one at a time: a dependent goes back before what it needs)."""
        changed = [
            r for r in reversed(self.runs.values()) if r.changed and r.phase in (Phase.healthy, Phase.failed)
        ]
        if not changed:
            return
        self.ctx.emitter.emit(
            EventKind.remediation, f"rolling back the run: {', '.join(r.id for r in changed)}"
        )
        for rr in changed:
            rr.goal, rr.gave_up, rr.steps = Goal.restore, False, 0
            if rr.phase is Phase.healthy:
                rr.failure = None
            await drive(self.ctx, rr)
