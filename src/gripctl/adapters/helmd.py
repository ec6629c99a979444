"""gripctl's helm calls through `gripctl-helmd` when it is installed, else the helm binary: observe's
reads, and the engine's `helm upgrade --install`.

`gripctl-helmd` (tools/helmd) links Helm's own Go packages at the pinned version and stays running:
one process per gripctl process instead of one `helm` process per call, whose start-up dominated a
plan. Every function here has the signature of its namesake in `adapters.helm`, returns what that
one returns and raises the same errors with the same messages: the helper answers with the bytes the
`helm` command prints, and the same parsers read them. Whether the helper is used is decided in one
place, `helper_path()`: a gripctl installed without the toolchain (pipx, own helm) runs the helm binary.

Requests travel as JSON lines over the helper's stdin and answers come back on its stdout, read by a
thread, never by asyncio's subprocess transport (python/cpython#103847, see adapters/process.py): a
caller that is cancelled only stops waiting; its answer, when it arrives, is dropped. Decrypted
values go over the pipe, in memory; no request is ever logged or put in an error message.
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import collections
import contextlib
import itertools
import json
import os
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gripctl.adapters import helm
from gripctl.adapters.helm import HistoryEntry, KubeTarget, Values
from gripctl.adapters.process import STOP_GRACE_SECONDS, tool_failure
from gripctl.adapters.toolchain import find_tool, tool_env
from gripctl.errors import ToolError, ToolMissingError

HELPER = "gripctl-helmd"
# GRIPCTL_HELMD=0 runs the helm binary even when the helper is installed (to compare, or to rule the
# helper out when something looks wrong).
DISABLE_ENV = "GRIPCTL_HELMD"


@dataclass(frozen=True)
class Answer:
    """The helper's reply: what `helm` would print on stdout, or its error message and exit code."""

    stdout: str
    error: str
    exit: int
    log: str = ""  # helm's log lines, printed on stderr before "Error: " (upgrades)


class HelperGone(ToolError):
    """The helper process exited or could not be written to; the request was not answered."""


class Helper:
    """One running `gripctl-helmd` and the requests in flight on it, from any thread or event loop."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.pid = os.getpid()  # a forked child must not share the parent's pipes
        self._proc = subprocess.Popen(
            [path],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=tool_env(),
        )
        self._lock = threading.Lock()  # guards _pending, _gone and writes to stdin
        self._pending: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Future[Answer]]] = {}
        self._ids = itertools.count(1)
        self._gone: str | None = None
        # The helper's own stderr: only its crash reports (Helm's logging is off); the tail explains
        # an unexpected exit.
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=20)
        threading.Thread(target=self._read_answers, name="gripctl-helmd-out", daemon=True).start()
        threading.Thread(target=self._read_stderr, name="gripctl-helmd-err", daemon=True).start()

    @property
    def alive(self) -> bool:
        return self._gone is None and self._proc.poll() is None

    async def call(self, op: str, **fields: Any) -> Answer:
        """Send one request and wait for its answer; cancelling the caller abandons the answer."""
        return await self._call(op, fields, stop_on_cancel=False)

    async def change(self, op: str, **fields: Any) -> Answer:
        """`call` for a change to the cluster: a cancelled caller first tells the helper to stop the
        request and waits up to STOP_GRACE_SECONDS for it to end, as a `helm` process gets SIGTERM and
        that long to record the release as failed (adapters/process.py)."""
        return await self._call(op, fields, stop_on_cancel=True)

    async def _call(self, op: str, fields: dict[str, Any], *, stop_on_cancel: bool) -> Answer:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Answer] = loop.create_future()
        request_id = next(self._ids)
        line = json.dumps({"id": request_id, "op": op, **fields}).encode() + b"\n"
        with self._lock:
            if self._gone is not None:
                raise HelperGone(self._gone)
            self._pending[request_id] = (loop, future)
            try:
                # A whole line under the lock: the helper reads its stdin continuously, so this waits
                # at most for it to take a large request (values) off the pipe.
                assert self._proc.stdin is not None
                self._proc.stdin.write(line)
                self._proc.stdin.flush()
            except OSError as exc:
                self._pending.pop(request_id, None)
                self._gone = f"{HELPER} stopped taking requests ({type(exc).__name__})"
                raise HelperGone(self._gone, hint=self._hint()) from None
        try:
            return await asyncio.shield(future) if stop_on_cancel else await future
        except asyncio.CancelledError:
            if stop_on_cancel:
                await self._stop(request_id, future)
            raise
        finally:
            with self._lock:
                self._pending.pop(request_id, None)

    async def _stop(self, request_id: int, future: asyncio.Future[Answer]) -> None:
        with contextlib.suppress(BaseException):  # gone, or cancelled again: nothing more to wait for
            await self.call("cancel", request=request_id)
            await asyncio.wait_for(future, STOP_GRACE_SECONDS)

    def close(self) -> None:
        """End the helper: closing its stdin makes it finish what is in flight and exit."""
        with self._lock:
            self._gone = self._gone or f"{HELPER} was closed"
            stdin = self._proc.stdin
            if stdin is not None and not stdin.closed:
                with contextlib.suppress(OSError):  # it is gone already
                    stdin.close()
        try:
            # A change stopped just before still gets its grace to record its outcome.
            self._proc.wait(timeout=STOP_GRACE_SECONDS + 5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()

    def _read_answers(self) -> None:
        assert self._proc.stdout is not None
        for raw in self._proc.stdout:
            try:
                data = json.loads(raw)
                answer = Answer(
                    str(data.get("stdout", "")), str(data.get("error", "")), int(data["exit"]),
                    str(data.get("log", "")),
                )  # fmt: skip
                request_id = int(data["id"])
            except (ValueError, KeyError, TypeError):
                continue  # not an answer to anyone: the waiting caller learns of it at EOF
            with self._lock:
                entry = self._pending.pop(request_id, None)
            if entry is not None:
                _resolve(entry, answer)
        self._proc.wait()
        with self._lock:
            self._gone = self._gone or (
                f"{HELPER} exited unexpectedly (exit {self._proc.returncode})"
                + (f": {' | '.join(self._stderr_tail)}" if self._stderr_tail else "")
            )
            waiting = list(self._pending.values())
            self._pending.clear()
        for entry in waiting:
            _resolve(entry, HelperGone(self._gone, hint=self._hint()))

    def _read_stderr(self) -> None:
        assert self._proc.stderr is not None
        for raw in self._proc.stderr:
            self._stderr_tail.append(raw.decode(errors="replace").rstrip())

    def _hint(self) -> str:
        return (
            f"re-run; if it happens again, set {DISABLE_ENV}=0 to use the helm binary instead, "
            f"and report {self.path}'s failure"
        )


def _resolve(
    entry: tuple[asyncio.AbstractEventLoop, asyncio.Future[Answer]], outcome: Answer | BaseException
) -> None:
    loop, future = entry

    def settle() -> None:
        if future.done():  # the caller was cancelled meanwhile
            return
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)

    with contextlib.suppress(RuntimeError):  # that event loop is closed: nobody waits any more
        loop.call_soon_threadsafe(settle)


_current: Helper | None = None
_current_lock = threading.Lock()


def helper_path() -> str | None:
    """The helper to use, or None when gripctl should run the helm binary: the one place that chooses.

    None when the helper is not installed (a gripctl installed without the toolchain, next to the
    user's own helm), or when GRIPCTL_HELMD=0 says not to use it."""
    if os.environ.get(DISABLE_ENV) == "0":
        return None
    try:
        return find_tool(HELPER)
    except ToolMissingError:
        return None


def enabled() -> bool:
    """Whether the read-only helm calls go through the helper."""
    return helper_path() is not None


def _helper() -> Helper | None:
    """The running helper, started on first use (again after it died); None: use the helm binary."""
    global _current
    path = helper_path()
    if path is None:
        return None
    with _current_lock:
        if _current is None or _current.pid != os.getpid() or not _current.alive or _current.path != path:
            if _current is not None and _current.pid == os.getpid():
                _current.close()
            _current = Helper(path)
        return _current


def shutdown() -> None:
    """Stop the helper of this process, if one runs (also at interpreter exit)."""
    global _current
    with _current_lock:
        if _current is not None and _current.pid == os.getpid():
            _current.close()
        _current = None


atexit.register(shutdown)


def _target(target: KubeTarget) -> dict[str, str]:
    fields: dict[str, str] = {}
    if target.kubeconfig is not None:
        fields["kubeconfig"] = str(target.kubeconfig)
    if target.context:
        fields["context"] = target.context
    return fields


def _values(values: Values) -> dict[str, Any]:
    """`Values.args()` as request fields, in the same order: files, then stdin, then --set."""
    files = [str(f) for f in values.files]
    fields: dict[str, Any] = {"set": [f"{key}={value}" for key, value in values.set_values.items()]}
    if values.stdin_yaml is not None:
        files.append("-")
        fields["stdin"] = base64.b64encode(values.stdin_yaml).decode()
    fields["values_files"] = files
    return fields


def _check(args: Sequence[str], answer: Answer) -> str:
    """The answer's stdout, or the ToolError `adapters.process` raises for the same failed helm call."""
    if answer.exit != 0:
        raise tool_failure("helm", args, answer.exit, f"{answer.log}Error: {answer.error}")
    return answer.stdout


# --- the helm adapter's read-only calls ------------------------------------------------------------


async def history(
    name: str, namespace: str, target: KubeTarget, *, max_entries: int = 20
) -> list[HistoryEntry]:
    """As `helm.history`: release history, oldest first; empty when the release does not exist."""
    helper = _helper()
    if helper is None:
        return await helm.history(name, namespace, target, max_entries=max_entries)
    answer = await helper.call("history", name=name, namespace=namespace, max=max_entries, **_target(target))
    if answer.exit != 0:
        stderr = f"Error: {answer.error}"
        if helm.history_not_found(stderr):
            return []
        raise ToolError(f"helm history {name} -n {namespace} failed: {stderr}")
    return helm.parse_history(answer.stdout)


async def get_manifest(name: str, namespace: str, target: KubeTarget, *, revision: int | None = None) -> str:
    """As `helm.get_manifest`: the manifest helm stored for the release (at `revision`)."""
    helper = _helper()
    if helper is None:
        return await helm.get_manifest(name, namespace, target, revision=revision)
    answer = await helper.call(
        "get_manifest", name=name, namespace=namespace, revision=revision or 0, **_target(target)
    )
    return _check(["get", "manifest"], answer)


async def get_values(
    name: str, namespace: str, target: KubeTarget, *, revision: int | None = None
) -> dict[str, Any]:
    """As `helm.get_values`: the user-supplied values (may contain secrets: callers mask them)."""
    helper = _helper()
    if helper is None:
        return await helm.get_values(name, namespace, target, revision=revision)
    answer = await helper.call(
        "get_values", name=name, namespace=namespace, revision=revision or 0, **_target(target)
    )
    return helm.parse_values(_check(["get", "values"], answer))


async def list_releases(namespace: str | None, target: KubeTarget) -> list[dict[str, Any]]:
    """As `helm.list_releases`: releases in every live state, in `namespace` or in all of them."""
    helper = _helper()
    if helper is None:
        return await helm.list_releases(namespace, target)
    fields: dict[str, Any] = {"states": list(helm.LIST_STATES), "max": helm.LIST_MAX, **_target(target)}
    if namespace:
        fields["namespace"] = namespace
    else:
        fields["all_namespaces"] = True
    answer = await helper.call("list", **fields)
    rows: list[dict[str, Any]] = json.loads(_check(["list", f"--{helm.LIST_STATES[0]}"], answer) or "[]")
    return rows


async def render_release_manifest_async(
    name: str,
    chart: Path,
    namespace: str,
    values: Values,
    *,
    kube_version: str | None = None,
    is_upgrade: bool = False,
) -> str:
    """As `helm.render_release_manifest_async`: `helm template --no-hooks`, shaped like the manifest
    helm stores for the release."""
    helper = _helper()
    if helper is None:
        return await helm.render_release_manifest_async(
            name, chart, namespace, values, kube_version=kube_version, is_upgrade=is_upgrade
        )
    answer = await helper.call(
        "template",
        name=name,
        chart=str(chart),
        namespace=namespace,
        no_hooks=True,
        kube_version=kube_version or "",
        is_upgrade=is_upgrade,
        **_values(values),
    )
    return _check(["template", name], answer)


async def upgrade_install_release(
    name: str,
    chart: Path,
    namespace: str,
    values: Values,
    target: KubeTarget,
    *,
    timeout_seconds: int,
    create_namespace: bool = True,
    description: str | None = None,
) -> dict[str, Any]:
    """As `helm.upgrade_install_release`: `helm upgrade --install` with the same flags; returns helm's
    release record. Cancelling the caller stops the upgrade as SIGTERM stops `helm` (helm records the
    release as failed)."""
    helper = _helper()
    if helper is None:
        return await helm.upgrade_install_release(
            name, chart, namespace, values, target,
            timeout_seconds=timeout_seconds, create_namespace=create_namespace, description=description,
        )  # fmt: skip
    answer = await helper.change(
        "upgrade",
        name=name,
        chart=str(chart),
        namespace=namespace,
        upgrade=helm.upgrade_flags(
            timeout_seconds=timeout_seconds, create_namespace=create_namespace, description=description
        ),
        **_values(values),
        **_target(target),
    )
    data = json.loads(_check(["upgrade", "--install"], answer) or "{}")
    return data if isinstance(data, dict) else {}
