"""One run per environment: a ledger lock *and* a Kubernetes Lease, both renewed by a heartbeat.

The ledger lock guards runs that share a ledger; the Lease (`coordination.k8s.io/v1`, namespace
`gripctl-system`, name `gripctl-<env>`) guards the cluster itself, even against a run recording into
another ledger. Writes use resourceVersion (optimistic concurrency), so two racing runs cannot both
win. A holder is dead when its lease expired, or when it ran on this host and its pid is gone (so a
`kill -9`ed run is recovered at once instead of after the lease duration).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from dataclasses import dataclass

from gripctl.adapters.kube import Conflict, Kube, Obj
from gripctl.engine.events import Emitter, EventKind
from gripctl.errors import ClusterError, LockedError, LockLostError
from gripctl.identity import actor
from gripctl.ledger.store import Ledger
from gripctl.timestamps import epoch, micro_time

LEASE_NAMESPACE = "gripctl-system"


def _lease_seconds() -> int:
    """15 s, or GRIPCTL_LEASE_SECONDS (at least 3): the chaos tests stop a run past its lease, and a
    shorter lease keeps their wall time small. Takers read the duration from the Lease itself."""
    try:
        return max(3, int(os.environ.get("GRIPCTL_LEASE_SECONDS", "15")))
    except ValueError:
        return 15


LEASE_SECONDS = _lease_seconds()


def holder_identity(run_id: int, user: str | None = None) -> str:
    return f"{user or actor()}@{socket.gethostname()}:{os.getpid()}:{run_id}"


@dataclass(frozen=True)
class Holder:
    user: str
    host: str
    pid: int
    run_id: int | None

    @classmethod
    def parse(cls, identity: str) -> Holder | None:
        try:
            user_host, pid, run = identity.rsplit(":", 2)
            user, host = user_host.rsplit("@", 1)
            return cls(user, host, int(pid), int(run) if run.isdigit() else None)
        except ValueError:
            return None

    def process_gone(self) -> bool:
        """True only when we can tell for sure: same host and no such process."""
        if self.host != socket.gethostname():
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False


def lease_expired(lease: Obj, now: float | None = None) -> bool:
    spec = lease.get("spec") or {}
    if not spec.get("holderIdentity"):
        return True
    renewed = epoch(spec.get("renewTime") or spec.get("acquireTime")) or 0.0
    return renewed + float(spec.get("leaseDurationSeconds") or LEASE_SECONDS) < (now or time.time())


class EnvLock:
    """The environment lock of one run. `acquire` raises LockedError naming the holder."""

    def __init__(self, kube: Kube, ledger: Ledger, environment: str, run_id: int, emitter: Emitter) -> None:
        self.kube, self.ledger, self.environment, self.run_id = kube, ledger, environment, run_id
        self.emitter = emitter
        self.identity = holder_identity(run_id)
        self.name = f"gripctl-{environment}"
        self._lease: Obj | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self._lost = False
        self._renewed = 0.0  # time.monotonic() of the last successful renewal
        self._renewing = asyncio.Lock()

    # -- the Lease ---------------------------------------------------------------------------------

    def _lease_body(self, existing: Obj | None) -> Obj:
        now = micro_time(time.time())
        spec = {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": LEASE_SECONDS,
            "acquireTime": now,
            "renewTime": now,
            "leaseTransitions": int(((existing or {}).get("spec") or {}).get("leaseTransitions") or 0)
            + (1 if existing else 0),
        }
        meta: Obj = {
            "name": self.name,
            "namespace": LEASE_NAMESPACE,
            "labels": {"app.kubernetes.io/managed-by": "gripctl"},
        }
        if existing:
            meta["resourceVersion"] = existing["metadata"]["resourceVersion"]
        return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta, "spec": spec}

    def _try_lease(self) -> str | None:
        """Take the Lease; None on success, else the live holder's identity."""
        existing = self.kube.get("Lease", LEASE_NAMESPACE, self.name)
        if existing is None:
            self.kube.ensure_namespace(LEASE_NAMESPACE)
            try:
                self._lease = self.kube.create("Lease", LEASE_NAMESPACE, self._lease_body(None))
                return None
            except Conflict:
                existing = self.kube.get("Lease", LEASE_NAMESPACE, self.name)
                if existing is None:
                    return "(unknown: the lease changed while taking it)"
        holder = str((existing.get("spec") or {}).get("holderIdentity") or "")
        parsed = Holder.parse(holder)
        dead = lease_expired(existing) or (parsed is not None and parsed.process_gone())
        # Same identity but not taken by this object: another run in this process (with another ledger,
        # hence maybe the same run id). Only a lease this EnvLock took itself is ours.
        ours = holder == self.identity and self._lease is not None
        if holder and not ours and not dead:
            return holder
        if dead and holder:
            self.emitter.emit(
                EventKind.lock, f"taking over the lease of a dead run: {holder}", previous=holder
            )
        try:
            self._lease = self.kube.replace("Lease", LEASE_NAMESPACE, self._lease_body(existing))
        except Conflict:
            return holder or "(another run took the lease first)"
        return None

    def _renew_lease(self) -> bool:
        if self._lease is None:
            return False
        body = dict(self._lease)
        body["spec"] = {**body["spec"], "renewTime": micro_time(time.time())}
        try:
            self._lease = self.kube.replace("Lease", LEASE_NAMESPACE, body)
            return True
        except Conflict:
            # Retried through an outage, our own write may have landed before its answer was lost:
            # the Lease then holds exactly what we wrote. Anything else: someone else wrote it.
            now = self.kube.get("Lease", LEASE_NAMESPACE, self.name)
            spec = (now or {}).get("spec") or {}
            if (
                now is not None
                and spec.get("holderIdentity") == self.identity
                and (spec.get("renewTime") == body["spec"]["renewTime"])
            ):
                self._lease = now
                return True
            return False

    # -- the ledger lock ---------------------------------------------------------------------------

    def _try_ledger(self) -> str | None:
        if self.ledger.acquire_env_lock(self.environment, self.run_id, self.identity, LEASE_SECONDS):
            return None
        lock = self.ledger.env_lock(self.environment)
        if lock is None:
            return "(released meanwhile: retry)"
        parsed = Holder.parse(lock.holder)
        if parsed is not None and parsed.process_gone():
            # Same host, process gone: no need to wait for the lock to expire.
            self.ledger.release_env_lock(self.environment, lock.run_id)
            if self.ledger.acquire_env_lock(self.environment, self.run_id, self.identity, LEASE_SECONDS):
                self.emitter.emit(EventKind.lock, f"took over the ledger lock of a dead run: {lock.holder}")
                return None
        return f"{lock.holder} (run {lock.run_id}, since {lock.acquired_at:%Y-%m-%d %H:%M:%S} UTC)"

    # -- together ----------------------------------------------------------------------------------

    def _try(self) -> str | None:
        held = self._try_ledger()
        if held is not None:
            return held
        held = self._try_lease()
        if held is not None:
            self.ledger.release_env_lock(self.environment, self.run_id)
            return f"{held} (cluster lease {LEASE_NAMESPACE}/{self.name})"
        return None

    async def acquire(self, wait_seconds: float = 0.0) -> None:
        deadline = time.monotonic() + wait_seconds
        announced = False
        while True:
            held = await asyncio.to_thread(self._try)
            if held is None:
                break
            if time.monotonic() >= deadline:
                raise LockedError(
                    f"environment {self.environment!r} is locked by another run: {held}",
                    hint="wait for it to finish (`gripctl runs -e ENV` shows it), or retry with "
                    "`--wait-lock SECONDS`; a crashed run's lock expires within "
                    f"{LEASE_SECONDS}s and the next deploy recovers it",
                )
            if not announced:
                self.emitter.emit(EventKind.lock, f"waiting for the lock held by {held}")
                announced = True
            await asyncio.sleep(min(1.0, max(0.05, deadline - time.monotonic())))
        self._renewed = time.monotonic()
        # `acquired` tells recovery this run held the lock (a run that never did changed nothing).
        self.emitter.emit(
            EventKind.lock, f"locked environment {self.environment} as {self.identity}", acquired=True
        )
        self._heartbeat = asyncio.create_task(self._beat())

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(LEASE_SECONDS / 3)
            try:
                await self._renew()
            except Exception as exc:  # the next beat tries again; ensure_held judges the silence
                self.emitter.emit(EventKind.lock, f"could not renew the environment lock: {exc}")

    async def _renew(self) -> bool:
        """Renew both locks; False when lost. While the API server does not answer (the client rides
        through an outage up to its budget), the lease is neither renewed nor lost: ClusterError."""
        async with self._renewing:  # the heartbeat and ensure_held must not race on resourceVersion
            if self._lost:
                return False
            ok_ledger = await asyncio.to_thread(
                self.ledger.heartbeat_env_lock, self.environment, self.run_id, LEASE_SECONDS
            )
            ok_lease = ok_ledger and await asyncio.to_thread(self._renew_lease)
        if ok_ledger and ok_lease:
            self._renewed = time.monotonic()
        elif not self._lost:
            self._lost = True
            self.emitter.emit(EventKind.lock, "lost the environment lock: another run may hold it now")
        return not self._lost

    async def ensure_held(self) -> None:
        """Before each action: raise LockLostError unless this run still holds the lock. A renewal
        older than two thirds of the lease (the process was stopped, or the heartbeat starved) is
        checked against the ledger and the cluster first, so a run continued after another took over
        changes nothing more."""
        if not self._lost and time.monotonic() - self._renewed > LEASE_SECONDS * 2 / 3:
            try:
                await self._renew()
            except ClusterError as exc:
                raise ClusterError(
                    f"run {self.run_id} could not renew its lock of environment {self.environment!r}: "
                    f"{exc.message}; it stopped before changing anything more",
                    hint=exc.hint,
                ) from None
        if self._lost:
            raise LockLostError(
                f"run {self.run_id} lost the lock of environment {self.environment!r}; it stopped "
                "before changing anything more",
                hint="another run may be deploying now (`gripctl runs -e ENV`); its recovery takes over "
                "what this run left",
            )

    async def release(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
        await asyncio.to_thread(self._release)

    def _release(self) -> None:
        with contextlib.suppress(Exception):  # an expired lock is released by time anyway
            if self._lease is not None:
                self.kube.delete(
                    "Lease",
                    LEASE_NAMESPACE,
                    self.name,
                    resource_version=self._lease["metadata"]["resourceVersion"],
                    # A short wait at most: while the API server is down, the lease expires by itself.
                    outage_seconds=min(self.kube.outage_seconds, 5.0),
                )
        with contextlib.suppress(Exception):
            self.ledger.release_env_lock(self.environment, self.run_id)
