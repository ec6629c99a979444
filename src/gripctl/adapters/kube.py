"""The Kubernetes API as typed Python calls over the official client: get/list/watch, Leases, Events.

Thin: objects travel as plain JSON dicts (camelCase, exactly what the API server and helm manifests
say), so that the engine reads `status.readyReplicas` the same way in a manifest, a test or a watch.
Blocking calls have `async` twins that run in a thread; watches run in threads and feed the event
loop, resuming from the last resourceVersion with bounded server- and client-side timeouts.

An API server that is briefly down (refused connections, 5xx) is ridden through: each call is retried
with backoff for up to `outage_seconds` (adapters/retry.py), and a watch keeps reconnecting — resuming
where it was, listing again when the server no longer knows that point — until it is stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.config.config_exception import ConfigException
from kubernetes.watch.watch import iter_resp_lines

from gripctl.adapters.helm import KubeTarget
from gripctl.adapters.kubeconfig import keep_kubeconfig_credentials_in_memory
from gripctl.adapters.retry import TRANSIENT_STATUS, Backoff, retry_sync, unreachable
from gripctl.errors import ClusterError

Obj = dict[str, Any]
ApiError = k8s.ApiException  # a refused request (403, 404, 422, ...): `.status` and `.reason` say why


@dataclass(frozen=True)
class Kind:
    """Where a kind lives in the REST API."""

    kind: str
    prefix: str  # "api/v1" or "apis/apps/v1"
    plural: str
    namespaced: bool = True


KINDS: dict[str, Kind] = {
    k.kind: k
    for k in (
        Kind("Deployment", "apis/apps/v1", "deployments"),
        Kind("StatefulSet", "apis/apps/v1", "statefulsets"),
        Kind("DaemonSet", "apis/apps/v1", "daemonsets"),
        Kind("ReplicaSet", "apis/apps/v1", "replicasets"),
        Kind("Job", "apis/batch/v1", "jobs"),
        Kind("Pod", "api/v1", "pods"),
        Kind("Service", "api/v1", "services"),
        Kind("Secret", "api/v1", "secrets"),
        Kind("Event", "api/v1", "events"),
        Kind("Namespace", "api/v1", "namespaces", namespaced=False),
        Kind("EndpointSlice", "apis/discovery.k8s.io/v1", "endpointslices"),
        Kind("Lease", "apis/coordination.k8s.io/v1", "leases"),
    )
}


@dataclass(frozen=True)
class ApiResource:
    """Any kind the API server serves, found by discovery (built-in, aggregated or from a CRD)."""

    api_version: str  # "v1", "apps/v1", "cert-manager.io/v1"
    kind: str
    plural: str
    namespaced: bool

    def path(self, namespace: str | None, name: str | None = None) -> str:
        prefix = f"/api/{self.api_version}" if "/" not in self.api_version else f"/apis/{self.api_version}"
        if self.namespaced and namespace:
            prefix += f"/namespaces/{namespace}"
        prefix += f"/{self.plural}"
        return f"{prefix}/{name}" if name else prefix


class Conflict(Exception):
    """An optimistic-concurrency write lost (HTTP 409): someone changed the object first."""


class Gone(Exception):
    """A watch's resourceVersion is too old (HTTP 410): list again."""


def _path(kind: str, namespace: str | None, name: str | None = None) -> str:
    k = KINDS[kind]
    path = f"/{k.prefix}"
    if k.namespaced and namespace:
        path += f"/namespaces/{namespace}"
    path += f"/{k.plural}"
    if name:
        path += f"/{name}"
    return path


keep_kubeconfig_credentials_in_memory()


def transient(exc: BaseException) -> bool:
    """A failure of the API server being (briefly) unreachable or unable to serve, not of the request."""
    if isinstance(exc, urllib3.exceptions.HTTPError | OSError):
        return True
    return isinstance(exc, k8s.ApiException) and exc.status in TRANSIENT_STATUS


class Kube:
    """One cluster (a KubeTarget's kubeconfig + context). Thread-safe: one ApiClient per thread.

    `outage_seconds`: how long a call is retried while the API server is unreachable (0: once).
    """

    def __init__(self, target: KubeTarget, *, outage_seconds: float = 0.0) -> None:
        self.target = target
        self.outage_seconds = outage_seconds
        self._config = k8s.Configuration()
        try:
            k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=str(target.kubeconfig) if target.kubeconfig else None,
                context=target.context,
                client_configuration=self._config,
                persist_config=False,
            )
        except (ConfigException, FileNotFoundError, OSError) as exc:
            where = str(target.kubeconfig) if target.kubeconfig else "$KUBECONFIG / ~/.kube/config"
            raise ClusterError(
                f"kube context {target.context or '(current)'!r} is not usable: {exc}",
                hint=f"check the environment's `context:` in gripctl.yaml against `kubectl config "
                f"get-contexts` (kubeconfig: {where})",
            ) from None
        self._config.retries = 1  # fail fast when the cluster is down; callers decide about retrying
        self._local = threading.local()
        self._discovery: dict[str, dict[str, ApiResource] | None] = {}  # api_version -> kind -> resource
        self._discovery_lock = threading.Lock()

    @property
    def server(self) -> str:
        return str(self._config.host)

    def _api(self) -> k8s.ApiClient:
        api = getattr(self._local, "api", None)
        if api is None:
            api = k8s.ApiClient(self._config)
            self._local.api = api
        return api

    def _request(
        self,
        method: str,
        path: str,
        *,
        query: list[tuple[str, str]] | None = None,
        body: Obj | None = None,
        timeout: float = 30.0,
        content_type: str = "application/json",
    ) -> Any:
        """One HTTP request; returns the urllib3 response (not yet read). Non-2xx raises."""
        api = self._api()
        method, url, headers, body_s, _ = api.param_serialize(
            method,
            path,
            query_params=query or [],
            header_params={"Accept": "application/json", "Content-Type": content_type},
            body=body,
            auth_settings=["BearerToken"],
        )
        resp = api.call_api(method, url, header_params=headers, body=body_s, _request_timeout=(5.0, timeout))
        raw = resp.response
        if not 200 <= resp.status <= 299:
            data = raw.data
            raw.release_conn()
            reason = resp.reason
            try:
                reason = json.loads(data).get("message", reason)
            except (ValueError, AttributeError):  # not a Status object: /readyz says what fails in text
                reason = (data or b"").decode(errors="replace").strip()[:1000] or reason
            if resp.status == 409:
                raise Conflict(reason)
            if resp.status == 410:
                raise Gone(reason)
            raise k8s.ApiException(status=resp.status, reason=reason)
        return raw

    def _call(
        self,
        method: str,
        path: str,
        *,
        query: list[tuple[str, str]] | None = None,
        body: Obj | None = None,
        timeout: float = 30.0,
        content_type: str = "application/json",
        outage_seconds: float | None = None,
    ) -> Any:
        started = time.monotonic()
        try:
            resp = retry_sync(
                lambda: self._request(
                    method, path, query=query, body=body, timeout=timeout, content_type=content_type
                ),
                Backoff(self.outage_seconds if outage_seconds is None else outage_seconds),
                transient,
            )
        except Exception as exc:
            if not transient(exc):
                raise
            cause = f"HTTP {exc.status}: {exc.reason}" if isinstance(exc, k8s.ApiException) else str(exc)
            raise unreachable(
                self.server, self.target.context, cause[:300], time.monotonic() - started
            ) from None
        return json.loads(resp.data or b"null")

    # -- plain calls -------------------------------------------------------------------------------

    def version(self) -> Obj:
        """The API server's version; the cheapest 'is the cluster reachable' probe."""
        out: Obj = self._call("GET", "/version", timeout=5.0)
        return out

    def unready(self, timeout: float = 5.0) -> str | None:
        """Why the API server cannot serve (an API server whose etcd is stopped still answers, and its
        watches just fall silent), or None: its `/readyz` checks, then one read that has to reach etcd
        (a GET of one object is not served from the watch cache)."""
        try:
            resp = self._request("GET", "/readyz", query=[("verbose", "1")], timeout=timeout)
            resp.release_conn()
        except k8s.ApiException as exc:
            return f"its /readyz says {exc.status}: {exc.reason}"
        except Exception as exc:
            return f"it did not answer /readyz: {exc}"
        try:
            resp = self._request("GET", _path("Namespace", None, "default"), timeout=timeout)
            resp.release_conn()
        except k8s.ApiException as exc:
            if exc.status in TRANSIENT_STATUS:
                return f"a read of its storage (etcd) failed: HTTP {exc.status}: {exc.reason}"
        except Exception as exc:
            return f"a read of its storage (etcd) got no answer within {timeout:.0f}s: {exc}"
        return None

    def get(self, kind: str, namespace: str | None, name: str) -> Obj | None:
        try:
            out: Obj = self._call("GET", _path(kind, namespace, name))
        except k8s.ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return out

    def list_objects(
        self,
        kind: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> tuple[list[Obj], str]:
        """Objects and the list's resourceVersion (to start a watch from)."""
        query: list[tuple[str, str]] = []
        if label_selector:
            query.append(("labelSelector", label_selector))
        if field_selector:
            query.append(("fieldSelector", field_selector))
        data = self._call("GET", _path(kind, namespace), query=query)
        items: list[Obj] = data.get("items") or []
        for item in items:  # list items carry no kind; the engine keys objects by kind
            item.setdefault("kind", kind)
        return items, str(data.get("metadata", {}).get("resourceVersion", ""))

    def create(self, kind: str, namespace: str | None, obj: Obj) -> Obj:
        out: Obj = self._call("POST", _path(kind, namespace), body=obj)
        return out

    def replace(self, kind: str, namespace: str | None, obj: Obj) -> Obj:
        """PUT with the object's metadata.resourceVersion: raises Conflict when it changed meanwhile."""
        out: Obj = self._call("PUT", _path(kind, namespace, obj["metadata"]["name"]), body=obj)
        return out

    def delete(
        self,
        kind: str,
        namespace: str | None,
        name: str,
        *,
        resource_version: str | None = None,
        outage_seconds: float | None = None,
    ) -> bool:
        """Delete; False when it was not there. `outage_seconds` overrides the client's outage budget."""
        body: Obj | None = None
        if resource_version:
            body = {"preconditions": {"resourceVersion": resource_version}}
        try:
            self._call("DELETE", _path(kind, namespace, name), body=body, outage_seconds=outage_seconds)
        except k8s.ApiException as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def ensure_namespace(self, name: str, labels: dict[str, str] | None = None) -> None:
        if self.get("Namespace", None, name) is None:
            meta: Obj = {"name": name, **({"labels": labels} if labels else {})}
            with contextlib.suppress(Conflict):  # created concurrently: fine
                self.create("Namespace", None, {"apiVersion": "v1", "kind": "Namespace", "metadata": meta})

    def events_for(self, namespace: str, name: str, kind: str = "Pod") -> list[Obj]:
        """Events about one object, oldest first."""
        items, _ = self.list_objects(
            "Event", namespace, field_selector=f"involvedObject.name={name},involvedObject.kind={kind}"
        )
        return sorted(items, key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""))

    # -- any kind, by discovery (drift) -------------------------------------------------------------

    def resource(self, api_version: str, kind: str) -> ApiResource | None:
        """Where `kind` of `api_version` lives, from the API server's discovery document (cached per
        group version); None when the server does not serve it (e.g. its CRD was deleted)."""
        with self._discovery_lock:
            known = self._discovery.get(api_version, {})
        if api_version not in self._discovery:
            prefix = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
            try:
                doc = self._call("GET", prefix)
            except k8s.ApiException as exc:
                if exc.status != 404:
                    raise
                doc = None
            found: dict[str, ApiResource] | None = None
            if isinstance(doc, dict):
                found = {}
                for item in doc.get("resources") or []:
                    if "/" in str(item.get("name", "")):
                        continue  # a subresource (deployments/scale, pods/log)
                    res = ApiResource(
                        api_version, str(item["kind"]), str(item["name"]), bool(item.get("namespaced"))
                    )
                    found.setdefault(res.kind, res)
            with self._discovery_lock:
                self._discovery[api_version] = found
            known = found
        return (known or {}).get(kind)

    def get_at(self, path: str) -> Obj | None:
        """GET one object by its REST path; None when it does not exist."""
        try:
            out: Obj = self._call("GET", path)
        except k8s.ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return out

    def list_at(
        self, resource: ApiResource, namespace: str | None, *, label_selector: str | None = None
    ) -> list[Obj]:
        """Every object of one resource (in one namespace, or all), each with its apiVersion and kind set."""
        query = [("labelSelector", label_selector)] if label_selector else None
        try:
            data = self._call("GET", resource.path(namespace), query=query)
        except k8s.ApiException as exc:
            if exc.status == 404:
                return []
            raise
        items: list[Obj] = data.get("items") or []
        for item in items:
            item.setdefault("apiVersion", resource.api_version)
            item.setdefault("kind", resource.kind)
        return items

    def apply_dry_run(
        self, resource: ApiResource, namespace: str | None, obj: Obj, field_manager: str
    ) -> Obj:
        """Server-side apply of `obj` with dryRun=All: the object as the API server would store it
        (defaults, admission, conversion), persisting nothing. `force` takes every field from its
        current owner, so the answer shows the manifest's values wherever someone else changed them."""
        name = str((obj.get("metadata") or {}).get("name", ""))
        query = [("dryRun", "All"), ("fieldManager", field_manager), ("force", "true")]
        out: Obj = self._call(
            "PATCH",
            resource.path(namespace, name),
            query=query,
            body=obj,
            content_type="application/apply-patch+yaml",  # JSON is YAML: the client sends the dict as JSON
        )
        return out

    # -- async twins -------------------------------------------------------------------------------

    async def aversion(self) -> Obj:
        return await asyncio.to_thread(self.version)

    async def aget(self, kind: str, namespace: str | None, name: str) -> Obj | None:
        return await asyncio.to_thread(self.get, kind, namespace, name)

    async def aevents_for(self, namespace: str, name: str, kind: str = "Pod") -> list[Obj]:
        return await asyncio.to_thread(self.events_for, namespace, name, kind)

    # -- watches -----------------------------------------------------------------------------------

    def watch_stream(
        self,
        kind: str,
        namespace: str | None,
        resource_version: str,
        *,
        timeout_seconds: int = 60,
        on_open: Callable[[Any], None] | None = None,
    ) -> Iterator[tuple[str, Obj]]:
        """One bounded watch request: yields (type, object) until the server closes it.

        Raises Gone when `resource_version` is too old; the caller lists again.
        """
        query = [
            ("watch", "1"),
            ("resourceVersion", resource_version),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", str(timeout_seconds)),
        ]
        resp = self._request("GET", _path(kind, namespace), query=query, timeout=timeout_seconds + 15)
        if on_open is not None:
            on_open(resp)  # lets another thread end the watch at once by closing the response
        try:
            for line in iter_resp_lines(resp):  # type: ignore[no-untyped-call]
                event = json.loads(line)
                etype, obj = str(event.get("type")), event.get("object") or {}
                if etype == "ERROR":
                    if obj.get("code") == 410:
                        raise Gone(str(obj.get("message")))
                    raise ClusterError(f"watch of {kind} failed: {obj.get('message')}")
                yield etype, obj
        finally:
            resp.close()
            resp.release_conn()


class Informer:
    """A list+watch cache of one kind (cluster-wide or one namespace), fed by a background thread.

    `on_change` is called on the event loop after every change, so verifiers re-evaluate at once
    instead of polling. The thread resumes from the last resourceVersion; on 410 Gone it lists again.
    While the API server is unreachable it keeps trying (backoff capped at 3 s) until stopped:
    `failing_since`/`last_error` say so meanwhile. A refusal (401/403/404...) stops it: `error`.
    """

    def __init__(
        self,
        kube: Kube,
        kind: str,
        loop: asyncio.AbstractEventLoop,
        on_change: Callable[[str, Obj], None],
        *,
        namespace: str | None = None,
        watch_timeout: int = 60,
    ) -> None:
        self.kube, self.kind, self.namespace = kube, kind, namespace
        self.loop, self.on_change = loop, on_change
        self.watch_timeout = watch_timeout
        self.store: dict[tuple[str, str], Obj] = {}
        self.by_namespace: dict[str, dict[str, Obj]] = {}  # the same objects, indexed for per-namespace reads
        self.synced = asyncio.Event()
        self.error: BaseException | None = None  # a refusal that retrying cannot fix: stopped
        self.failing_since: float | None = None  # time.monotonic() of the first failure in a row
        self.last_error: BaseException | None = None
        self._stop = threading.Event()
        self._resp: Any = None
        self._thread = threading.Thread(target=self._run, name=f"watch-{kind}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        resp, self._resp = self._resp, None
        if resp is not None:
            with contextlib.suppress(Exception):  # closing a socket another thread reads: best effort
                resp.shutdown()

    def objects(self) -> list[Obj]:
        return list(self.store.values())

    def _key(self, obj: Obj) -> tuple[str, str]:
        meta = obj.get("metadata") or {}
        return str(meta.get("namespace", "")), str(meta.get("name", ""))

    def _apply(self, etype: str, obj: Obj) -> None:
        # Runs on the event loop thread: the store is only mutated there, so readers need no locks.
        obj.setdefault("kind", self.kind)
        ns, name = key = self._key(obj)
        if etype == "DELETED":
            self.store.pop(key, None)
            self.by_namespace.get(ns, {}).pop(name, None)
        else:
            self.store[key] = obj
            self.by_namespace.setdefault(ns, {})[name] = obj
        self.on_change(etype, obj)

    def _relist(self, items: list[Obj]) -> None:
        self.store = {self._key(o): o for o in items}
        self.by_namespace = {}
        for (ns, name), obj in self.store.items():
            self.by_namespace.setdefault(ns, {})[name] = obj
        self.synced.set()
        self.on_change("SYNC", {})

    def _opened(self, resp: Any) -> None:
        self._resp = resp
        self.failing_since = None  # the API server answers again
        if self._stop.is_set():
            self.stop()

    def _run(self) -> None:
        rv = ""
        failures = 0
        while not self._stop.is_set():
            try:
                if not rv:
                    items, rv = self.kube.list_objects(self.kind, self.namespace)
                    self.failing_since = None
                    self.loop.call_soon_threadsafe(self._relist, items)
                for etype, obj in self.kube.watch_stream(
                    self.kind, self.namespace, rv, timeout_seconds=self.watch_timeout, on_open=self._opened
                ):
                    if self._stop.is_set():
                        return
                    rv = str(obj.get("metadata", {}).get("resourceVersion", rv))
                    if etype != "BOOKMARK":
                        self.loop.call_soon_threadsafe(self._apply, etype, obj)
                failures = 0
            except Gone:
                rv = ""
            except RuntimeError:
                return  # the event loop closed: the run is over
            except Exception as exc:
                if isinstance(exc, k8s.ApiException) and not transient(exc):
                    self.error = exc  # refused (RBAC, a kind the server does not serve): no use retrying
                    return
                # Anything else — a reset connection, a line cut in half, a 5xx — is the API server
                # going away under the watch.
                # The API server is down or restarting: keep trying until stopped; whoever waits on
                # this cache decides how long that may last (a release's timeout).
                failures += 1
                self.last_error = exc
                if self.failing_since is None:
                    self.failing_since = time.monotonic()
                self._stop.wait(min(0.2 * 2**failures, 3.0))


# --- validate --server (appended for gripctl validate) -----------------------------------------------

from gripctl.adapters.process import Completed, run_async  # noqa: E402  (appended section)


async def server_dry_run_apply(manifest: str, namespace: str, target: KubeTarget) -> Completed:
    """`kubectl apply --server-side --dry-run=server` of a rendered manifest: the API server validates
    every object (schema, unknown fields, admission) and persists nothing. Not raising: the caller reads
    the per-object errors from stderr (appended for gripctl validate --server)."""
    args = [
        "apply", "--server-side", "--dry-run=server", "--field-manager", "gripctl-validate",
        "--namespace", namespace, "--filename", "-",
    ]  # fmt: skip
    if target.kubeconfig is not None:
        args += ["--kubeconfig", str(target.kubeconfig)]
    if target.context:
        args += ["--context", target.context]
    return await run_async("kubectl", args, stdin=manifest.encode(), check=False)
