"""Runs, their release actions, their event timeline and the commits they ship, with the DORA stamps a
finished deploy writes (docs/metrics.md), and the promotion check over past actions."""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import exists, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from gripctl.ledger import schema as t
from gripctl.ledger.db import LedgerBase
from gripctl.ledger.records import check_sha256
from gripctl.ledger.types import (
    ActionKind,
    ActionOutcome,
    ActionRecord,
    CommitInfo,
    EventRecord,
    RunKind,
    RunOutcome,
    RunRecord,
)


class RunRecords(LedgerBase):
    def start_run(
        self,
        environment: str,
        kind: RunKind | str,
        actor: str,
        git_commit: str | None,
        plan_digest: str | None,
        *,
        host: str | None = None,
        pid: int | None = None,
    ) -> int:
        row = t.Run(
            environment=environment,
            kind=RunKind(kind).value,
            actor=actor,
            host=host or socket.gethostname(),
            pid=os.getpid() if pid is None else pid,
            started_at=self.clock(),
            outcome=RunOutcome.running.value,
            git_commit=git_commit,
            plan_digest=plan_digest,
        )
        with self._tx() as s:
            s.add(row)
            s.flush()
            return row.id

    def finish_run(
        self,
        run_id: int,
        outcome: RunOutcome | str,
        error: str | None = None,
        *,
        durations: dict[str, float] | None = None,
    ) -> bool:
        """Close the run with its outcome. A run is closed once: False (and nothing written) when it
        was closed already — say, marked interrupted by the run that took over its expired lock, and
        the stopped process, continued, comes to finish it."""
        outcome = RunOutcome(outcome)
        if outcome is RunOutcome.running:
            raise ValueError("finish_run needs a final outcome, not 'running'")
        now = self.clock()
        with self._tx() as s:
            row = self._get(s, t.Run, run_id, "run")
            if row.outcome != RunOutcome.running.value:
                return False
            row.finished_at = now
            row.outcome = outcome.value
            row.error = error
            row.duration_seconds = (now - row.started_at).total_seconds()
            if durations is not None:
                row.durations = dict(durations)
            if _is_successful_deploy(row):
                _stamp_recovered_failures(s, row)
                _stamp_first_shipped_commits(s, row)
        return True

    def runs(
        self,
        environment: str | None = None,
        limit: int = 50,
        *,
        environments: Sequence[str] | None = None,
        kind: RunKind | str | None = None,
        outcome: RunOutcome | str | None = None,
        actor: str | None = None,
        before: int | None = None,
    ) -> list[RunRecord]:
        """The latest runs, newest first, filtered by environment (or any of `environments`), kind,
        outcome and actor. Pages: pass the last id of a page as `before` to get the next, older one."""
        query = select(t.Run).order_by(t.Run.id.desc()).limit(limit)
        if environment is not None:
            query = query.where(t.Run.environment == environment)
        if environments is not None:
            query = query.where(t.Run.environment.in_(list(environments)))
        if kind is not None:
            query = query.where(t.Run.kind == RunKind(kind).value)
        if outcome is not None:
            query = query.where(t.Run.outcome == RunOutcome(outcome).value)
        if actor is not None:
            query = query.where(t.Run.actor == actor)
        if before is not None:
            query = query.where(t.Run.id < before)
        with self._tx(read=True) as s:
            return [run_record(r) for r in s.scalars(query)]

    def run_events(self, run_id: int, after: int = 0, limit: int = 1000) -> list[EventRecord]:
        """The run's timeline after event id `after`, oldest first: what a live view reads as it grows."""
        query = (
            select(t.Event)
            .where(t.Event.run_id == run_id, t.Event.id > after)
            .order_by(t.Event.id)
            .limit(limit)
        )
        with self._tx(read=True) as s:
            return [_event(e) for e in s.scalars(query)]

    def run_summary(self, run_id: int) -> RunRecord | None:
        """One run without its actions and events."""
        with self._tx(read=True) as s:
            row = s.get(t.Run, run_id)
            return run_record(row) if row is not None else None

    def change_marker(self) -> tuple[int, ...]:
        """(newest event id, newest incident event id, newest decision id, number of plans): changes
        whenever a run moves, an incident does, or a plan is saved or decided on, so that a reader can
        tell cheaply whether what it computed from the ledger is still current."""
        with self._tx(read=True) as s:
            events = s.scalar(select(func.max(t.Event.id))) or 0
            incidents = s.scalar(select(func.max(t.IncidentEvent.id))) or 0
            decisions = s.scalar(select(func.max(t.Approval.id))) or 0
            plans = s.scalar(select(func.count()).select_from(t.Plan)) or 0
            return int(events), int(incidents), int(decisions), int(plans)

    def dora_marker(self) -> tuple[object, ...]:
        """(the newest finish of a deploy, the newest incident event id): what the DORA figures depend
        on, read from two indexes; events of a run in progress do not move it."""
        with self._tx(read=True) as s:
            finished = s.scalar(select(func.max(t.Run.finished_at)).where(t.Run.kind == RunKind.deploy.value))
            incidents = s.scalar(select(func.max(t.IncidentEvent.id))) or 0
            return finished, int(incidents)

    def failed_deploys(
        self, environment: str, since: datetime, until: datetime, limit: int = 200
    ) -> list[RunRecord]:
        """Deploys of `environment` finished in [since, until) that count as failed changes: failed,
        rolled back or interrupted, or succeeded but linked to an incident. Newest first. Both halves
        read the (environment, kind, outcome, finished_at) index; the link is a semi-join on the
        incidents' run index."""
        window = (
            t.Run.environment == environment,
            t.Run.kind == RunKind.deploy.value,
            t.Run.finished_at >= since,
            t.Run.finished_at < until,
        )
        failed = (
            select(t.Run)
            .where(*window, t.Run.outcome.in_(("failed", "rolled_back", "interrupted")))
            .order_by(t.Run.finished_at.desc())
            .limit(limit)
        )
        linked = (
            select(t.Run)
            .where(
                *window,
                t.Run.outcome == RunOutcome.succeeded.value,
                exists().where(t.Incident.run_id == t.Run.id),
            )
            .order_by(t.Run.finished_at.desc())
            .limit(limit)
        )
        with self._tx(read=True) as s:
            found = {r.id: run_record(r) for r in s.scalars(failed)}
            found.update({r.id: run_record(r) for r in s.scalars(linked)})
        newest = sorted(found.values(), key=lambda r: (r.finished_at or since, r.id), reverse=True)
        return newest[:limit]

    def last_release_runs(self, environment: str, release_ids: Sequence[str]) -> dict[str, RunRecord]:
        """Release id -> the newest run in `environment` that acted on it (one index seek per release)."""
        out: dict[str, RunRecord] = {}
        with self._tx(read=True) as s:
            for rid in release_ids:
                query = (
                    select(t.Run)
                    .join(t.ReleaseAction, t.ReleaseAction.run_id == t.Run.id)
                    .where(t.ReleaseAction.release_id == rid, t.Run.environment == environment)
                    .order_by(t.ReleaseAction.started_at.desc())
                    .limit(1)
                )
                row = s.scalar(query)
                if row is not None:
                    out[rid] = run_record(row)
        return out

    def run(self, run_id: int) -> RunRecord | None:
        """One run with its actions and its event timeline, or None."""
        with self._tx(read=True) as s:
            row = s.get(t.Run, run_id)
            if row is None:
                return None
            actions = s.scalars(
                select(t.ReleaseAction).where(t.ReleaseAction.run_id == run_id).order_by(t.ReleaseAction.id)
            )
            events = s.scalars(select(t.Event).where(t.Event.run_id == run_id).order_by(t.Event.id))
            return run_record(row, tuple(_action(a) for a in actions), tuple(_event(e) for e in events))

    def revision_runs(self, release_id: str, environment: str) -> dict[int, int]:
        """helm revision -> the run that produced it, for one release in one environment (`history`)."""
        query = (
            select(t.ReleaseAction.to_revision, t.ReleaseAction.run_id)
            .join(t.Run, t.Run.id == t.ReleaseAction.run_id)
            .where(
                t.ReleaseAction.release_id == release_id,
                t.Run.environment == environment,
                t.ReleaseAction.to_revision.is_not(None),
            )
            .order_by(t.ReleaseAction.id)
        )
        with self._tx(read=True) as s:
            return {rev: run for rev, run in s.execute(query) if rev is not None}

    def last_deployed_commit(self, environment: str) -> str | None:
        """The git commit of the environment's latest successful deploy (where lead time counts from)."""
        query = (
            select(t.Run.git_commit)
            .where(
                t.Run.environment == environment,
                t.Run.kind == RunKind.deploy.value,
                t.Run.outcome == RunOutcome.succeeded.value,
                t.Run.git_commit.is_not(None),
            )
            .order_by(t.Run.finished_at.desc())
            .limit(1)
        )
        with self._tx(read=True) as s:
            return s.scalar(query)

    # --- release actions and events ----------------------------------------------------------------

    def begin_action(
        self,
        run_id: int,
        release_id: str,
        action: ActionKind | str,
        from_revision: int | None,
        chart_version: str | None,
        *,
        values_digest: str | None = None,
    ) -> int:
        """Write-ahead: record the action as running *before* helm is called, so a crash leaves a trace.
        `values_digest`: sha256 (hex) of the merged values an install/upgrade applies, secrets included."""
        if values_digest is not None:
            check_sha256(values_digest, "values_digest")
        row = t.ReleaseAction(
            run_id=run_id,
            release_id=release_id,
            action=ActionKind(action).value,
            from_revision=from_revision,
            chart_version=chart_version,
            started_at=self.clock(),
            outcome=ActionOutcome.running.value,
            values_digest=values_digest,
        )
        with self._tx() as s:
            s.add(row)
            s.flush()
            return row.id

    def finish_action(
        self,
        action_id: int,
        outcome: ActionOutcome | str,
        to_revision: int | None = None,
        error: str | None = None,
    ) -> bool:
        """Close an action with its outcome, once: False (nothing written) when it was closed already
        (by the recovery of another run, see finish_run)."""
        with self._tx() as s:
            row = self._get(s, t.ReleaseAction, action_id, "release action")
            if row.outcome not in (ActionOutcome.running.value, ActionOutcome.pending.value):
                return False
            row.outcome = ActionOutcome(outcome).value
            row.finished_at = self.clock()
            row.to_revision = to_revision
            row.error = error
        return True

    def succeeded_in(self, environment: str, release_id: str, chart_version: str, values_digest: str) -> bool:
        """Whether exactly this chart version with exactly these values (by digest) was installed or
        upgraded successfully in `environment`, by a run that succeeded or that left the release healthy
        (not rolled back or uninstalled later in the same run): the gate of a promotion."""
        check_sha256(values_digest, "values_digest")
        undo = aliased(t.ReleaseAction)
        undone = exists().where(
            undo.run_id == t.ReleaseAction.run_id,
            undo.release_id == t.ReleaseAction.release_id,
            undo.id > t.ReleaseAction.id,
            undo.action.in_([ActionKind.rollback.value, ActionKind.uninstall.value]),
        )
        query = select(
            exists()
            .where(
                t.Run.id == t.ReleaseAction.run_id,
                t.Run.environment == environment,
                t.ReleaseAction.release_id == release_id,
                t.ReleaseAction.action.in_([ActionKind.install.value, ActionKind.upgrade.value]),
                t.ReleaseAction.outcome == ActionOutcome.succeeded.value,
                t.ReleaseAction.chart_version == chart_version,
                t.ReleaseAction.values_digest == values_digest,
                or_(t.Run.outcome == RunOutcome.succeeded.value, ~undone),
            )
            .correlate_except(t.Run, t.ReleaseAction)
        )
        with self._tx(read=True) as s:
            return bool(s.scalar(query))

    def event(
        self,
        run_id: int,
        kind: str,
        message: str,
        release_id: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> int:
        """Append to the run's timeline. `data` must be JSON-serialisable and must not carry secrets."""
        row = t.Event(
            run_id=run_id, kind=kind, message=message, release_id=release_id, data=data, ts=self.clock()
        )
        with self._tx(timeline=True) as s:
            s.add(row)
            s.flush()
            return row.id

    def record_commits(self, run_id: int, commits: Sequence[CommitInfo]) -> None:
        """The commits this run ships (those since the environment's last successful deploy)."""
        if not commits:
            return
        for c in commits:
            if c.committed_at.tzinfo is None:
                raise ValueError(
                    f"commit {c.sha}: naive datetime {c.committed_at!r}; git times are UTC-aware"
                )
        with self._tx() as s:
            s.add_all(
                t.Commit(
                    run_id=run_id,
                    sha=c.sha,
                    committed_at=c.committed_at,
                    author=c.author,
                    summary=c.summary[:500],
                )
                for c in commits
            )
            run = s.get(t.Run, run_id)
            if run is not None and _is_successful_deploy(run):  # recorded after the fact: stamp them now
                s.flush()
                _stamp_first_shipped_commits(s, run)


def _is_successful_deploy(run: t.Run) -> bool:
    return (
        run.kind == RunKind.deploy.value
        and run.outcome == RunOutcome.succeeded.value
        and run.finished_at is not None
    )


_FAILED_OUTCOMES = (RunOutcome.failed.value, RunOutcome.rolled_back.value, RunOutcome.interrupted.value)


def _stamp_recovered_failures(s: Session, run: t.Run) -> None:
    """A successful deploy ends its environment's failure episode: stamp the failed deploys it recovers
    with `restored_at`, so failed deployment recovery time needs no self-join (docs/metrics.md)."""
    deploys = (t.Run.environment == run.environment, t.Run.kind == RunKind.deploy.value)
    # Only failures since the previous success can be unrecovered: a short index range, not all history.
    previous = s.scalar(
        select(func.max(t.Run.finished_at)).where(
            *deploys, t.Run.outcome == RunOutcome.succeeded.value, t.Run.id != run.id
        )
    )
    s.execute(
        update(t.Run)
        .where(
            *deploys,
            t.Run.outcome.in_(_FAILED_OUTCOMES),
            t.Run.restored_at.is_(None),
            t.Run.finished_at <= run.finished_at,
            *([t.Run.finished_at >= previous] if previous is not None else []),
        )
        .values(restored_at=run.finished_at)
        .execution_options(synchronize_session=False)
    )


def _stamp_first_shipped_commits(s: Session, run: t.Run) -> None:
    """Stamp the lead time on this deploy's commits that no earlier successful deploy of the environment
    shipped (a commit that only rode in failed attempts is stamped here, from its commit time)."""
    assert run.finished_at is not None
    earlier = aliased(t.Commit)
    shipped_before = exists().where(
        earlier.sha == t.Commit.sha,
        earlier.environment == run.environment,
        earlier.deployed_at.is_not(None),
    )
    query = (
        select(t.Commit)
        .where(t.Commit.run_id == run.id, t.Commit.deployed_at.is_(None), ~shipped_before)
        .order_by(t.Commit.committed_at, t.Commit.id)
    )
    stamped: set[str] = set()
    for c in s.scalars(query).all():
        if c.sha in stamped:  # the same sha twice in one run: the earliest commit time counts once
            continue
        stamped.add(c.sha)
        c.environment = run.environment
        c.deployed_at = run.finished_at
        c.lead_seconds = (run.finished_at - c.committed_at).total_seconds()


def run_record(
    r: t.Run, actions: tuple[ActionRecord, ...] = (), events: tuple[EventRecord, ...] = ()
) -> RunRecord:
    return RunRecord(
        id=r.id,
        environment=r.environment,
        kind=RunKind(r.kind),
        actor=r.actor,
        host=r.host,
        pid=r.pid,
        started_at=r.started_at,
        finished_at=r.finished_at,
        outcome=RunOutcome(r.outcome),
        git_commit=r.git_commit,
        plan_digest=r.plan_digest,
        duration_seconds=r.duration_seconds,
        durations=r.durations,
        error=r.error,
        actions=actions,
        events=events,
    )


def _action(a: t.ReleaseAction) -> ActionRecord:
    return ActionRecord(
        id=a.id,
        run_id=a.run_id,
        release_id=a.release_id,
        action=ActionKind(a.action),
        from_revision=a.from_revision,
        to_revision=a.to_revision,
        chart_version=a.chart_version,
        started_at=a.started_at,
        finished_at=a.finished_at,
        outcome=ActionOutcome(a.outcome),
        error=a.error,
        values_digest=a.values_digest,
    )


def _event(e: t.Event) -> EventRecord:
    return EventRecord(e.id, e.run_id, e.release_id, e.ts, e.kind, e.message, e.data)
