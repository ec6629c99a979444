"""Health verification by watching: is a release's rollout done, and does it stay healthy?

A `ClusterView` keeps list+watch caches (one watch per kind, shared by every release of a run) and
wakes waiters on every change. `evaluate` is a pure function over that cache and the objects the
release's manifest names; `verify_release` re-evaluates on each change, fails fast on the first
failing pod (with its state and its last event), checks HTTP endpoints, then watches the monitoring
window: a restart or a lost readiness in that window fails the release too.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from gripctl import manifest
from gripctl.adapters.kube import Informer, Kube, Obj
from gripctl.adapters.retry import short_cause
from gripctl.engine.signals import PrometheusWatch
from gripctl.errors import ClusterError
from gripctl.model.types import HttpCheck

WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "Job")
WATCHED = (*WORKLOADS, "Pod", "EndpointSlice")
INDEXED = ("Pod", "EndpointSlice")  # the kinds verification looks up by label
# Container waiting reasons that never fix themselves without a new deploy.
FATAL_WAITING = {
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
}


@dataclass(frozen=True)
class Target:
    """One object of the release that verification looks at."""

    kind: str
    namespace: str
    name: str
    selector: dict[str, str] = field(default_factory=dict)  # Service spec.selector
    api_version: str = ""  # for kinds found by discovery (cert-manager's Certificate)

    def __str__(self) -> str:
        return f"{self.kind}/{self.name}"


def targets_of(text: str, namespace: str) -> list[Target]:
    """The objects of a release's manifest that verification watches: workloads and selecting Services."""
    out: list[Target] = []
    for m in manifest.parse(text, what="the release manifest"):
        obj, kind, name = m.obj, m.kind, m.name
        ns = m.namespace(namespace) or ""
        if kind in WORKLOADS:
            out.append(Target(kind, ns, name))
        elif kind == "Service":
            spec = obj.get("spec") or {}
            selector = spec.get("selector") or {}
            if selector and spec.get("type") != "ExternalName":
                out.append(Target(kind, ns, name, {str(k): str(v) for k, v in selector.items()}))
        elif kind == "Certificate" and str(obj.get("apiVersion", "")).startswith("cert-manager.io/"):
            out.append(Target(kind, ns, name, api_version=str(obj["apiVersion"])))
    return out


@dataclass(frozen=True)
class Health:
    state: str  # healthy | progressing | failed
    reason: str = ""
    # (kind, namespace, name) of the object that failed or holds things up: its events go in the reason
    culprit: tuple[str, str, str] | None = None

    @property
    def healthy(self) -> bool:
        return self.state == "healthy"

    @property
    def failed(self) -> bool:
        return self.state == "failed"


@dataclass
class Baseline:
    """What was already true when verification started, so old news does not fail a new rollout."""

    min_generation: dict[tuple[str, str, str], int] = field(default_factory=dict)  # (kind, ns, name)
    restarts: dict[str, dict[str, int]] = field(default_factory=dict)  # pod uid -> container -> count
    stale_pods: set[str] = field(default_factory=set)  # uids of pods already failing at start


def _match_labels(workload: Obj) -> dict[str, str]:
    sel = (workload.get("spec") or {}).get("selector") or {}
    return {str(k): str(v) for k, v in (sel.get("matchLabels") or {}).items()}


def _int(value: Any, default: int = 0) -> int:
    return int(value) if isinstance(value, int) else default


def _condition(obj: Obj, ctype: str) -> Obj | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == ctype:
            return dict(cond)
    return None


def workload_progress(obj: Obj, min_generation: int = 0) -> Health:
    """Rollout state of one Deployment, StatefulSet, DaemonSet or Job, from its status."""
    kind, name = obj.get("kind"), (obj.get("metadata") or {}).get("name")
    label = f"{kind}/{name}"
    meta, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    generation = _int(meta.get("generation"))
    stale = generation < min_generation or _int(status.get("observedGeneration"), -1) < generation
    if stale and kind != "Job":  # Jobs report no observedGeneration
        return Health("progressing", f"{label}: waiting for the controller to observe the new spec")
    if kind == "Deployment":
        cond = _condition(obj, "Progressing")
        if cond and cond.get("reason") == "ProgressDeadlineExceeded":
            return Health(
                "failed",
                f"{label}: progress deadline exceeded ({cond.get('message', '')})",
                (str(kind), str(meta.get("namespace", "")), str(name)),
            )
        # The same three questions as `kubectl rollout status`.
        want = _int(spec.get("replicas"), 1)
        updated, available = _int(status.get("updatedReplicas")), _int(status.get("availableReplicas"))
        total = _int(status.get("replicas"))
        if updated < want:
            return Health("progressing", f"{label}: {updated} of {want} new replicas updated")
        if total > updated:
            return Health("progressing", f"{label}: {total - updated} old replicas pending termination")
        if available < updated:
            return Health("progressing", f"{label}: {available} of {updated} updated replicas available")
    elif kind == "StatefulSet":
        want = _int(spec.get("replicas"), 1)
        ready, updated = _int(status.get("readyReplicas")), _int(status.get("updatedReplicas"))
        rolling = (spec.get("updateStrategy") or {}).get("type", "RollingUpdate") == "RollingUpdate"
        if ready < want or (rolling and updated < want):
            return Health("progressing", f"{label}: {updated}/{want} updated, {ready}/{want} ready")
        if (
            rolling
            and status.get("updateRevision")
            and status.get("currentRevision") != status.get("updateRevision")
        ):
            return Health("progressing", f"{label}: rolling update in progress")
    elif kind == "DaemonSet":
        desired = _int(status.get("desiredNumberScheduled"))
        updated, available = _int(status.get("updatedNumberScheduled")), _int(status.get("numberAvailable"))
        if updated < desired or available < desired:
            return Health(
                "progressing", f"{label}: {updated}/{desired} updated, {available}/{desired} available"
            )
    elif kind == "Job":
        failed = _condition(obj, "Failed")
        if failed and failed.get("status") == "True":
            return Health(
                "failed",
                f"{label} failed: {failed.get('reason', '')} {failed.get('message', '')}",
                (str(kind), str(meta.get("namespace", "")), str(name)),
            )
        complete = _condition(obj, "Complete")
        if not (complete and complete.get("status") == "True"):
            return Health("progressing", f"{label}: not complete yet")
    return Health("healthy")


def pod_problem(pod: Obj, baseline: Baseline) -> str | None:
    """Why this pod fails the release (fail fast), or None. Deleting and stale pods are ignored."""
    meta, status = pod.get("metadata") or {}, pod.get("status") or {}
    uid = str(meta.get("uid", ""))
    if meta.get("deletionTimestamp") or uid in baseline.stale_pods:
        return None
    if status.get("phase") == "Failed":
        return f"Failed ({status.get('reason') or _terminated_reason(status) or 'containers exited'})"
    sched = _condition(pod, "PodScheduled")
    if sched and sched.get("status") == "False" and sched.get("reason") == "Unschedulable":
        return f"Unschedulable ({sched.get('message', '')})"
    before = baseline.restarts.get(uid, {})
    for cs in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]:
        name = cs.get("name", "?")
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in FATAL_WAITING:
            last = ((cs.get("lastState") or {}).get("terminated") or {}).get("exitCode")
            tail = f", last exit code {last}" if last is not None else ""
            return f"container {name} {waiting['reason']} (restarts: {_int(cs.get('restartCount'))}{tail})"
        if _int(cs.get("restartCount")) > before.get(name, 0):
            term = (cs.get("lastState") or {}).get("terminated") or {}
            why = f": {term.get('reason', '')} exit code {term.get('exitCode')}" if term else ""
            return f"container {name} restarted ({_int(cs.get('restartCount'))} restarts{why})"
    return None


def _terminated_reason(status: Obj) -> str:
    for cs in status.get("containerStatuses") or []:
        term = (cs.get("state") or {}).get("terminated") or {}
        if term:
            reason = term.get("reason", "terminated")
            return f"container {cs.get('name')} {reason} exit code {term.get('exitCode')}"
    return ""


def pod_ready(pod: Obj) -> bool:
    cond = _condition(pod, "Ready")
    return bool(cond and cond.get("status") == "True")


class ClusterView:
    """Watch caches of the kinds verification reads, shared by all releases of one run."""

    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        self.informers: dict[str, Informer] = {}
        self._changed = asyncio.Event()
        # Label indexes of the kinds verification selects by label (pods by a workload's or Service's
        # selector, EndpointSlices by their Service): (kind, namespace, key, value) -> object names,
        # kept current on every change. Without them every evaluation of every release scanned all
        # pods of its namespace: quadratic in the releases of a namespace (300 in one: most of a
        # deploy's CPU).
        self._labels: dict[tuple[str, str, str], dict[str, str]] = {}  # (kind, ns, name) -> labels
        self._index: dict[tuple[str, str, str, str], set[str]] = {}

    async def start(self, timeout: float = 30.0) -> None:
        loop = asyncio.get_running_loop()
        for kind in WATCHED:
            inf = Informer(self.kube, kind, loop, self._on_change)
            self.informers[kind] = inf
            inf.start()
        try:
            async with asyncio.timeout(timeout):
                for inf in self.informers.values():
                    while not inf.synced.is_set():
                        if inf.error is not None:
                            raise ClusterError(f"cannot watch {inf.kind} objects: {inf.error}")
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(inf.synced.wait(), 0.5)
        except TimeoutError:
            raise ClusterError(
                f"the Kubernetes API at {self.kube.server} did not answer the initial lists "
                f"in {timeout:.0f}s",
                hint="check that the cluster is healthy (`kubectl get --raw /readyz`)",
            ) from None

    def stop(self) -> None:
        for inf in self.informers.values():
            inf.stop()

    def outage(self) -> str | None:
        """While the watches cannot reach the API server: for how long, and why (else None)."""
        failing = [inf for inf in self.informers.values() if inf.failing_since is not None]
        if not failing:
            return None
        since = min(inf.failing_since or 0.0 for inf in failing)
        error = next((inf.last_error for inf in failing if inf.last_error is not None), None)
        why = short_cause(str(error)) if error else "no answer"
        return (
            f"the Kubernetes API at {self.kube.server} has not answered the watches for "
            f"{time.monotonic() - since:.0f}s ({why}); is the cluster up?"
        )

    def _on_change(self, etype: str, obj: Obj) -> None:
        if etype == "SYNC":  # a (re)list replaced a store: index it again
            self._reindex()
        elif obj.get("kind") in INDEXED:
            self._index_one(str(obj["kind"]), etype, obj)
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    def _index_one(self, kind: str, etype: str, obj: Obj) -> None:
        meta = obj.get("metadata") or {}
        ns, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
        for key, value in self._labels.pop((kind, ns, name), {}).items():
            names = self._index.get((kind, ns, key, value))
            if names is not None:
                names.discard(name)
                if not names:
                    del self._index[(kind, ns, key, value)]
        if etype == "DELETED":
            return
        labels = {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
        self._labels[(kind, ns, name)] = labels
        for key, value in labels.items():
            self._index.setdefault((kind, ns, key, value), set()).add(name)

    def _reindex(self) -> None:
        self._labels, self._index = {}, {}
        for kind in INDEXED:
            informer = self.informers.get(kind)
            for obj in informer.store.values() if informer is not None else ():
                self._index_one(kind, "ADDED", obj)

    def matching(self, kind: str, namespace: str, selector: dict[str, str]) -> list[Obj]:
        """Objects of an indexed kind in `namespace` whose labels include every `selector` pair, in the
        store's order, as a scan of the namespace would find them (an empty selector matches none)."""
        if not selector:
            return []
        sets = [self._index.get((kind, namespace, k, v)) for k, v in selector.items()]
        if any(s is None for s in sets):
            return []
        names = set.intersection(*(s for s in sets if s is not None))
        store = self.informers[kind].by_namespace.get(namespace, {})
        if len(names) == 1:
            found = store.get(next(iter(names)))
            return [found] if found is not None else []
        return [obj for name, obj in store.items() if name in names]

    async def wait_change(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), max(timeout, 0.01))

    def get(self, kind: str, namespace: str, name: str) -> Obj | None:
        return self.informers[kind].store.get((namespace, name))

    def pods(self, namespace: str) -> list[Obj]:
        return list(self.informers["Pod"].by_namespace.get(namespace, {}).values())

    def endpoint_slices(self, namespace: str, service: str) -> list[Obj]:
        return self.matching("EndpointSlice", namespace, {"kubernetes.io/service-name": service})


def release_pods(view: ClusterView, targets: list[Target]) -> list[Obj]:
    """Pods that belong to the release's workloads (by their live selectors)."""
    seen: dict[str, Obj] = {}
    for t in targets:
        if t.kind not in WORKLOADS:
            continue
        live = view.get(t.kind, t.namespace, t.name)
        selector = _match_labels(live) if live else {}
        for pod in view.matching("Pod", t.namespace, selector):
            seen[str((pod.get("metadata") or {}).get("uid"))] = pod
    return list(seen.values())


def evaluate(view: ClusterView, targets: list[Target], baseline: Baseline) -> Health:
    """The release's health now: failed (first failing pod or workload), progressing, or healthy."""
    for pod in release_pods(view, targets):
        problem = pod_problem(pod, baseline)
        if problem:
            meta = pod.get("metadata") or {}
            ns, name = str(meta.get("namespace")), str(meta.get("name"))
            return Health("failed", f"pod {name}: {problem}", ("Pod", ns, name))
    waiting: list[str] = []
    for t in targets:
        if t.kind in WORKLOADS:
            live = view.get(t.kind, t.namespace, t.name)
            if live is None:
                waiting.append(f"{t}: not found yet")
                continue
            h = workload_progress(live, baseline.min_generation.get((t.kind, t.namespace, t.name), 0))
            if h.failed:
                return h
            if not h.healthy:
                waiting.append(h.reason)
        elif t.kind == "Service":
            backing = [
                p
                for p in view.matching("Pod", t.namespace, dict(t.selector))
                if not (p.get("metadata") or {}).get("deletionTimestamp")
            ]
            if not backing:
                continue  # selects no pod (scaled to zero, or pods of another release): nothing to route
            ready = sum(
                1
                for s in view.endpoint_slices(t.namespace, t.name)
                for ep in s.get("endpoints") or []
                if (ep.get("conditions") or {}).get("ready") is not False
            )
            if ready == 0:
                waiting.append(f"{t}: no ready endpoints")
    if waiting:
        unready = _first_unready(view, targets, baseline)
        if unready is not None:
            meta = unready.get("metadata") or {}
            cond = _condition(unready, "Ready") or {}
            why = cond.get("reason") or (unready.get("status") or {}).get("phase") or "not ready"
            waiting.append(f"pod {meta.get('name')} not ready ({why})")
            return Health(
                "progressing", "; ".join(waiting), ("Pod", str(meta.get("namespace")), str(meta.get("name")))
            )
        return Health("progressing", "; ".join(waiting))
    return Health("healthy")


def _first_unready(view: ClusterView, targets: list[Target], baseline: Baseline) -> Obj | None:
    for pod in release_pods(view, targets):
        meta = pod.get("metadata") or {}
        if meta.get("deletionTimestamp") or str(meta.get("uid")) in baseline.stale_pods:
            continue
        if not pod_ready(pod) and (pod.get("status") or {}).get("phase") != "Succeeded":
            return pod
    return None


def take_baseline(kube: Kube, view: ClusterView, targets: list[Target]) -> Baseline:
    """Read workloads directly (not from the cache, which may lag the apply helm just did) so that a
    stale cached status of the previous generation cannot pass as the new rollout being done."""
    base = Baseline()
    for t in targets:
        if t.kind in WORKLOADS:
            live = kube.get(t.kind, t.namespace, t.name)
            if live is not None:
                base.min_generation[(t.kind, t.namespace, t.name)] = _int(
                    (live.get("metadata") or {}).get("generation")
                )
    for pod in release_pods(view, targets):
        uid = str((pod.get("metadata") or {}).get("uid"))
        if pod_problem(pod, Baseline()) is not None:
            base.stale_pods.add(uid)
        base.restarts[uid] = {
            str(cs.get("name")): _int(cs.get("restartCount"))
            for cs in [
                *((pod.get("status") or {}).get("initContainerStatuses") or []),
                *((pod.get("status") or {}).get("containerStatuses") or []),
            ]
        }
    return base


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    reason: str = ""
    seconds: float = 0.0
    failed_at: float | None = None  # time.time() when the failure was seen (for detection latency)


async def _not_serving(kube: Kube) -> str | None:
    """When a verification times out: is it the API server that cannot serve (etcd stopped, say)?"""
    unready = await asyncio.to_thread(kube.unready)
    if unready is None:
        return None
    failing = [line.strip() for line in unready.splitlines() if line.strip().startswith("[-]")]
    why = ", ".join(failing[:3]) if failing else unready.split(": ", 1)[0]
    return f"the Kubernetes API at {kube.server} cannot serve ({why}); is the cluster up?"


async def _last_events(kube: Kube, culprit: tuple[str, str, str] | None, count: int = 2) -> str:
    """The last events of the object that failed (or holds things up), for the failure reason: what
    `kubectl describe` would show an operator, as far as the cluster can tell."""
    if culprit is None:
        return ""
    kind, namespace, name = culprit
    try:
        events = await kube.aevents_for(namespace, name, kind)
    except Exception:  # the reason is still useful without the events
        return ""
    lines = []
    for e in events[-count:]:
        line = f"{e.get('reason', '')}: {' '.join(str(e.get('message', '')).split())}"
        if line not in lines:
            lines.append(line)
    if not lines:
        return ""
    return f"; last event{'s' if len(lines) > 1 else ''}: " + "; ".join(lines)


def certificates_problem(kube: Kube, targets: list[Target]) -> str | None:
    """cert-manager Certificates of the release that are not Ready yet (None: all Ready, or none).
    Read directly: their CRD may not exist, so they are not among the watched kinds."""
    for t in targets:
        if t.kind != "Certificate":
            continue
        resource = kube.resource(t.api_version, "Certificate")
        if resource is None:
            continue  # cert-manager's CRD is not installed: nothing to wait for
        live = kube.get_at(resource.path(t.namespace, t.name))
        if live is None:
            return f"{t}: not found yet"
        ready = _condition(live, "Ready")
        if not ready or ready.get("status") != "True":
            why = f" ({ready.get('reason', '')}: {ready.get('message', '')})" if ready else ""
            return f"{t}: not Ready{why}"
    return None


async def check_http(checks: tuple[HttpCheck, ...], deadline: float) -> str | None:
    """Poll each HTTP check until it answers the expected status; the last problem, or None."""
    if not checks:
        return None
    async with httpx.AsyncClient(follow_redirects=True) as client:
        for check in checks:
            problem = ""
            while True:
                try:
                    resp = await client.get(check.url, timeout=check.timeout_seconds)
                    if resp.status_code == check.expect_status:
                        break
                    problem = (
                        f"HTTP check {check.url}: status {resp.status_code}, expected {check.expect_status}"
                    )
                except httpx.HTTPError as exc:
                    problem = f"HTTP check {check.url}: {type(exc).__name__}: {exc}"
                if time.monotonic() >= deadline:
                    return problem
                await asyncio.sleep(0.5)
    return None


async def _wait(view: ClusterView, signals: PrometheusWatch | None, timeout: float) -> None:
    """Until the cluster changes, a health query fails, or `timeout` passes."""
    if signals is None:
        await view.wait_change(timeout)
        return
    changed = asyncio.ensure_future(view.wait_change(timeout))
    breached = asyncio.ensure_future(signals.changed.wait())
    try:
        await asyncio.wait({changed, breached}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        changed.cancel()
        breached.cancel()


async def verify_release(
    kube: Kube,
    view: ClusterView,
    manifest_text: str,
    namespace: str,
    *,
    timeout_seconds: float,
    monitor_seconds: float = 0.0,
    http_checks: tuple[HttpCheck, ...] = (),
    signals: PrometheusWatch | None = None,
    on_phase: Callable[[str, str], None] = lambda _phase, _msg: None,
) -> VerifyResult:
    """Wait until the release is healthy (or fails, or times out), then watch the monitoring window.

    Healthy means: rolled out (workloads, pods, endpoints), its cert-manager Certificates Ready, its
    HTTP checks answering, and none of its Prometheus queries (`signals`) breached — during the
    rollout, right after it, and all through the monitoring window.
    """
    if signals is not None:
        signals.start()
    try:
        return await _verify(
            kube,
            view,
            manifest_text,
            namespace,
            timeout_seconds,
            monitor_seconds,
            http_checks,
            signals,
            on_phase,
        )
    finally:
        if signals is not None:
            await signals.stop()


async def _verify(
    kube: Kube,
    view: ClusterView,
    manifest_text: str,
    namespace: str,
    timeout_seconds: float,
    monitor_seconds: float,
    http_checks: tuple[HttpCheck, ...],
    signals: PrometheusWatch | None,
    on_phase: Callable[[str, str], None],
) -> VerifyResult:
    started = time.monotonic()
    deadline = started + timeout_seconds
    targets = targets_of(manifest_text, namespace)
    last_reason = ""

    def failed(reason: str) -> VerifyResult:
        return VerifyResult(False, reason, time.monotonic() - started, time.time())

    # The baseline reads from etcd itself (not the watch cache): an API server whose etcd is stopped
    # holds such a read without answering, and the release's timeout must still end its verification.
    reading = asyncio.ensure_future(asyncio.to_thread(take_baseline, kube, view, targets))
    done, _ = await asyncio.wait({reading}, timeout=max(deadline - time.monotonic(), 0.0))
    if not done:
        reading.add_done_callback(lambda task: task.exception())  # ends on its own; nobody waits
        outage = view.outage() or await _not_serving(kube)
        return failed(
            f"timed out after {timeout_seconds:.0f}s: "
            + (outage or "the Kubernetes API did not answer a read of the release's workloads")
        )
    baseline = reading.result()

    while True:
        if signals is not None and signals.failure:
            return failed(signals.failure)
        health = evaluate(view, targets, baseline)
        if health.failed:
            return failed(health.reason + await _last_events(kube, health.culprit))
        if health.healthy:
            waiting = await asyncio.to_thread(certificates_problem, kube, targets)
            if waiting is None:
                break
            health = Health("progressing", waiting)
        if health.reason != last_reason:
            last_reason = health.reason
            on_phase("verifying", health.reason)
        now = time.monotonic()
        if now >= deadline:
            outage = view.outage() or await _not_serving(kube)
            if outage:  # what it looked like last is not why it timed out
                return failed(f"timed out after {timeout_seconds:.0f}s: {outage}; last seen: {health.reason}")
            why = f"timed out after {timeout_seconds:.0f}s: {health.reason}"
            return failed(why + await _last_events(kube, health.culprit))
        await _wait(view, signals, min(deadline - now, 2.0))
    problem = await check_http(http_checks, deadline)
    if problem:
        return failed(problem)
    if signals is not None and (breach := await signals.check_now()):
        return failed(breach)
    if monitor_seconds > 0:
        # From now on any restart counts, and losing readiness is a failure, not progress.
        baseline = await asyncio.to_thread(take_baseline, kube, view, targets)
        baseline.stale_pods.clear()
        on_phase("monitoring", f"watching for {monitor_seconds:.0f}s")
        end = time.monotonic() + monitor_seconds
        while (now := time.monotonic()) < end:
            if signals is not None and signals.failure:
                return failed(f"during the monitoring window: {signals.failure}")
            health = evaluate(view, targets, baseline)
            if not health.healthy:
                why = health.reason if health.failed else f"lost readiness: {health.reason}"
                return failed(
                    f"during the monitoring window: {why}" + await _last_events(kube, health.culprit)
                )
            await _wait(view, signals, min(end - now, 2.0))
        if signals is not None and (breach := await signals.check_now()):
            return failed(f"during the monitoring window: {breach}")
    return VerifyResult(True, "", time.monotonic() - started)
