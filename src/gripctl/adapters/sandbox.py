"""The sandbox: a real local Kubernetes control plane with simulated nodes, for demos and cluster tests.

`kwokctl create cluster --runtime binary` runs etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and kwok-controller as plain processes, from the pinned toolchain's binaries (never
downloaded). kwok plays the kubelet: it moves pods and nodes through their lifecycle by Stage resources,
which gripctl applies itself (sandbox_stages/*.yaml) so that pods labelled `gripctl.dev/inject` can
fail on purpose (never-ready, crash, slow-ready; see docs/sandbox.md).

State lives outside the repository, under `home()` (default ~/.cache/gripctl/sandbox):
`kwok/` is kwokctl's workdir (KWOK_WORKDIR: pids, logs, pki, etcd data), `kubeconfig` is a standalone
kubeconfig with the `gripctl-sandbox` context, `sandbox.json` the SandboxInfo of the running cluster,
and `lock` serialises up/down between concurrent callers (several test sessions share one sandbox).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes import watch as k8s_watch
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from urllib3.exceptions import HTTPError

from gripctl.adapters.process import run
from gripctl.adapters.toolchain import cache_root, find_tool, tool_env
from gripctl.errors import ClusterError, ToolError, ToolMissingError, UsageError

NAME = "gripctl-sandbox"  # the kwok cluster name of the default sandbox; a named one's is NAME-<name>
CONTEXT = "gripctl-sandbox"  # the kubeconfig context (and cluster/user entry) name of the default sandbox
_NAME_RULE = re.compile(r"^[a-z]([-a-z0-9]{0,18}[a-z0-9])?$")
INJECT_LABEL = "gripctl.dev/inject"
INJECT_MODES = ("never-ready", "crash", "slow-ready")
READY_AFTER_ANNOTATION = "gripctl.dev/ready-after"
# kwok-controller manages the nodes annotated `kwok.x-k8s.io/node: fake` (kwokctl's default selector).
KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"

# The programs kwokctl runs, by the name of the kwokctl flag that points at each one.
COMPONENT_BINARIES = {
    "--etcd-binary": "etcd",
    "--kube-apiserver-binary": "kube-apiserver",
    "--kube-controller-manager-binary": "kube-controller-manager",
    "--kube-scheduler-binary": "kube-scheduler",
    "--kwok-controller-binary": "kwok",
}
STAGE_FILES = ("nodes.yaml", "pods.yaml", "pod-inject.yaml")
CREATE_TIMEOUT_SECONDS = 240
READY_TIMEOUT_SECONDS = 90


@dataclass(frozen=True)
class SandboxInfo:
    name: str  # kwok cluster name
    context: str  # "gripctl-sandbox"
    kubeconfig: Path  # a kubeconfig file that has that context
    server: str  # https://127.0.0.1:PORT
    kube_version: str  # "v1.36.3"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "kubeconfig": str(self.kubeconfig)}


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    status: str  # Ready, NotReady, Stopped, Unknown (kwokctl's words)


@dataclass(frozen=True)
class NodeStatus:
    name: str
    ready: bool


@dataclass(frozen=True)
class SandboxStatus:
    info: SandboxInfo
    healthy: bool  # the API server answers
    components: tuple[ComponentStatus, ...]
    nodes: tuple[NodeStatus, ...]
    user_kubeconfig: Path  # where the context was merged
    context_present: bool  # the context is in user_kubeconfig

    def to_dict(self) -> dict[str, Any]:
        return {
            "running": self.healthy,
            **self.info.to_dict(),
            "components": [asdict(c) for c in self.components],
            "nodes": [asdict(n) for n in self.nodes],
            "user_kubeconfig": str(self.user_kubeconfig),
            "context_present": self.context_present,
        }


# ---------------------------------------------------------------------------------------------- paths


def home() -> Path:
    """Where the sandbox keeps its state; $GRIPCTL_SANDBOX_HOME overrides (tests use a temporary one)."""
    if env := os.environ.get("GRIPCTL_SANDBOX_HOME"):
        return Path(env)
    return cache_root() / "sandbox"


def check_name(name: str | None) -> None:
    """A named sandbox's name becomes part of its cluster, context and folder names: a short DNS label."""
    if name is not None and not _NAME_RULE.match(name):
        raise UsageError(
            f"invalid sandbox name {name!r}: use 1-20 lowercase letters, digits and dashes, "
            "starting with a letter",
            hint="e.g. `gripctl sandbox up --name production`",
        )


def cluster_name(name: str | None = None) -> str:
    """The kwok cluster, and the kubeconfig context, of a sandbox: gripctl-sandbox[-NAME]."""
    return NAME if name is None else f"{NAME}-{name}"


def sandbox_dir(name: str | None = None) -> Path:
    """Where one sandbox keeps its state: home() for the default one, home()/named/NAME for the others."""
    return home() if name is None else home() / "named" / name


def kwok_workdir(name: str | None = None) -> Path:
    return sandbox_dir(name) / "kwok"


def cluster_dir(name: str | None = None) -> Path:
    return kwok_workdir(name) / "clusters" / cluster_name(name)


def standalone_kubeconfig(name: str | None = None) -> Path:
    return sandbox_dir(name) / "kubeconfig"


def _state_file(name: str | None = None) -> Path:
    return sandbox_dir(name) / "sandbox.json"


def _holders_dir(name: str | None = None) -> Path:
    return sandbox_dir(name) / "holders"


def named() -> list[str]:
    """The names of the named sandboxes that have state (running or not)."""
    folder = home() / "named"
    return (
        sorted(p.name for p in folder.iterdir() if (p / "sandbox.json").is_file()) if folder.is_dir() else []
    )


def user_kubeconfig() -> Path:
    """The user's default kubeconfig: the first file of $KUBECONFIG, else ~/.kube/config (kubectl's rule
    for where new entries go)."""
    env = os.environ.get("KUBECONFIG", "")
    first = next((p for p in env.split(os.pathsep) if p), None)
    return Path(first).expanduser() if first else Path.home() / ".kube" / "config"


# ------------------------------------------------------------------------------------------ public API


def up(
    *, nodes: int = 3, port: int | None = None, holder: str | None = None, name: str | None = None
) -> SandboxInfo:
    """Start the sandbox (idempotent: return the running one). `port` pins the API server's port
    (default: a free one picked by kwokctl). `holder` records a claim (e.g. a test session) that
    `down(holder=...)` respects. `name`: a second (third, ...) sandbox beside the default one, with its
    own processes, ports, folder and context `gripctl-sandbox-NAME`. Raises ToolMissingError /
    ClusterError, and then leaves nothing behind."""
    check_name(name)
    if nodes < 1:
        raise ClusterError(f"the sandbox needs at least one node, not {nodes}", hint="pass --nodes 1 or more")
    binaries: dict[str, str] = {}
    if _running_info(name) is None:
        # Checked before anything is written, so that these failures leave no trace at all.
        binaries = _resolve_binaries()
        if port is not None:
            _check_port_free(port)
    with _locked(name):
        running = _running_info(name)  # again: another process may have started it while we waited
        if running is not None:
            with _api(running) as api:
                _ensure_nodes(api, nodes, name)
            _merge_user_kubeconfig(running)
        else:
            binaries = binaries or _resolve_binaries()
            if cluster_dir(name).exists() or _state_file(name).exists():
                # A stale sandbox (e.g. after a reboot): start clean rather than resume half a cluster.
                _teardown(name)
            try:
                running = _create(binaries, nodes=nodes, port=port, name=name)
            except BaseException:
                _teardown(name)
                raise
        if holder:
            _claim(holder, name)
        return running


def down(*, holder: str | None = None, name: str | None = None) -> None:
    """Stop the sandbox and remove its processes, files and kubeconfig entries; a no-op when not running.
    With `holder`: release that claim, and stop only when no other live holder remains."""
    with _locked(name):
        if holder:
            _release(holder, name)
            if _live_holders(name):
                return
        _teardown(name)


def release(holder: str, name: str | None = None) -> None:
    """Drop a claim made by `up(holder=...)` without stopping the sandbox."""
    with _locked(name):
        _release(holder, name)


def info(name: str | None = None) -> SandboxInfo | None:
    """The running sandbox, or None when it is not running (or its API server does not answer)."""
    return _running_info(name)


def status(name: str | None = None) -> SandboxStatus | None:
    """Components, nodes and context of the sandbox; None when no sandbox was started."""
    saved = _load_state(name)
    if saved is None:
        return None
    healthy = _probe_version(saved) is not None
    node_states: tuple[NodeStatus, ...] = ()
    if healthy:
        with _api(saved) as api:
            node_states = tuple(
                NodeStatus(str(n.metadata.name), _node_ready(n))
                for n in k8s.CoreV1Api(api).list_node(_request_timeout=10).items
                if n.metadata
            )
    user = user_kubeconfig()
    return SandboxStatus(
        info=saved,
        healthy=healthy,
        components=_components(name),
        nodes=node_states,
        user_kubeconfig=user,
        context_present=any(
            c.get("name") == saved.context for c in _read_kubeconfig(user).get("contexts") or []
        ),
    )


def api_client(sandbox: SandboxInfo) -> k8s.ApiClient:
    """A Kubernetes ApiClient for the sandbox (the caller closes it)."""
    api: k8s.ApiClient = k8s_config.new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=str(sandbox.kubeconfig), context=sandbox.context, persist_config=False
    )
    return api


# One controller manager and one scheduler: a leader lease renewal missed under load (the default
# renew deadline is 10 s; two busy cores) makes them exit, and kwokctl does not restart them, so every
# rollout would then wait for ever. Generous deadlines; their leases still say when they are up. (A
# config file, not --extra-args: kwokctl v0.8.0 panics on several --extra-args for one component.)
KWOKCTL_CONFIG = """\
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokctlConfiguration
componentsPatches:
""" + "".join(
    f"""- name: {component}
  extraArgs:
  - {{key: leader-elect-lease-duration, value: 120s}}
  - {{key: leader-elect-renew-deadline, value: 90s}}
  - {{key: leader-elect-retry-period, value: 5s}}
"""
    for component in ("kube-controller-manager", "kube-scheduler")
)


def kwokctl_config(name: str | None) -> Path:
    """Where `up` writes KWOKCTL_CONFIG for this sandbox (beside its state, outside kwokctl's workdir)."""
    return home() / f"{cluster_name(name)}.kwokctl.yaml"


def kwokctl_create_args(binaries: dict[str, str], *, port: int | None, name: str | None = None) -> list[str]:
    """The exact `kwokctl` arguments `up` runs (documented in docs/sandbox.md)."""
    args = ["--name", cluster_name(name), "--config", str(kwokctl_config(name)), "create", "cluster"]
    args += ["--runtime", "binary"]
    for flag, tool in COMPONENT_BINARIES.items():
        args += [flag, binaries[tool]]
    args += [
        "--enable-crds", "Stage",  # stages are API objects, so failure injection can change at runtime
        "--kubeconfig=",  # gripctl writes its own context (`gripctl-sandbox`, not kwok's `kwok-<name>`)
        "--quiet-pull",
        # One kwok process plays every kubelet and the control plane shares two cores with the tools:
        # client-side rate limits (controller-manager 20 qps) would throttle a burst of rollouts that
        # a real cluster, with a kubelet per node, absorbs. Both deploy paths under test see the same.
        "--disable-qps-limits",
        "--timeout", f"{CREATE_TIMEOUT_SECONDS}s",
    ]  # fmt: skip
    if port is not None:
        args += ["--kube-apiserver-port", str(port)]
    return args


# ------------------------------------------------------------------------------------------- creation


def _resolve_binaries() -> dict[str, str]:
    """Absolute paths of kwokctl and every component, or one error that names all missing ones."""
    found: dict[str, str] = {}
    missing: list[str] = []
    for tool in ("kwokctl", "kubectl", *COMPONENT_BINARIES.values()):
        try:
            found[tool] = find_tool(tool)
        except ToolMissingError:
            missing.append(tool)
    if missing:
        raise ToolMissingError(
            f"cannot start the sandbox: {', '.join(missing)} not found "
            "(looked in $GRIPCTL_TOOLCHAIN_BIN, the gripctl toolchain cache and $PATH)",
            hint="run `make setup` to build the pinned toolchain (gripctl never lets kwokctl download "
            "binaries), or set GRIPCTL_TOOLCHAIN_BIN to a folder that has them",
        )
    return found


def _check_port_free(port: int) -> None:
    """Fail early and clearly when the API server's port is taken; kube-apiserver binds all interfaces."""
    for address in ("127.0.0.1", "0.0.0.0"):  # as kwokctl checks its own ports
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((address, port))
            except OSError as exc:
                raise ClusterError(
                    f"cannot start the sandbox: port {port} (kube-apiserver) is already in use "
                    f"({exc.strerror})",
                    hint=f"see who holds it with `ss -ltnp 'sport = :{port}'`; pick another port with "
                    "--port, or leave --port out to use a free one",
                ) from None


def _kwokctl_env(name: str | None) -> dict[str, str]:
    """kwokctl's environment: its workdir, and the pinned kubectl first on PATH — kwokctl runs `kubectl`
    from PATH to see whether the API server is up, and would download one if there were none."""
    kubectl_dir = str(Path(find_tool("kubectl")).parent)
    return {"KWOK_WORKDIR": str(kwok_workdir(name)), "PATH": f"{kubectl_dir}{os.pathsep}{tool_env()['PATH']}"}


def _kwokctl(args: list[str], *, timeout: float, name: str | None) -> tuple[int, str]:
    result = run("kwokctl", args, env=_kwokctl_env(name), check=False, timeout=timeout)
    return result.returncode, (result.stderr + result.stdout).strip()


def _kwokctl_create(args: list[str], name: str | None) -> tuple[int, str]:
    """Run `kwokctl create cluster`, stopped as soon as a component process dies: kwokctl would wait two
    minutes for an API server that has already exited. (Popen, not process.run: we watch it run.)"""
    env = {**tool_env(), **_kwokctl_env(name)}
    deadline = time.monotonic() + CREATE_TIMEOUT_SECONDS + 30
    with tempfile.TemporaryFile() as out:
        # Its own process group: when we stop it, the `kubectl get --raw /version` probes it runs go too.
        proc = subprocess.Popen(
            [find_tool("kwokctl"), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        try:
            while True:
                try:
                    code = proc.wait(timeout=0.5)
                    break
                except subprocess.TimeoutExpired:
                    if dead := _dead_components(name):
                        raise ClusterError(
                            f"sandbox component {', '.join(dead)} exited while starting" + _log_tails(name),
                            hint="the log lines above say why (a port taken, a broken binary?); the sandbox "
                            "was removed again: fix the cause and run `gripctl sandbox up` again",
                        ) from None
                    if time.monotonic() > deadline:
                        raise ClusterError(
                            f"`kwokctl create cluster` did not finish within {CREATE_TIMEOUT_SECONDS}s"
                            + _log_tails(name),
                            hint="the machine may be overloaded; run `gripctl sandbox up` again",
                        ) from None
        finally:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        out.seek(0)
        return code, out.read().decode(errors="replace")


def _create(binaries: dict[str, str], *, nodes: int, port: int | None, name: str | None) -> SandboxInfo:
    home().mkdir(parents=True, exist_ok=True)
    kwokctl_config(name).write_text(KWOKCTL_CONFIG)
    code, output = _kwokctl_create(kwokctl_create_args(binaries, port=port, name=name), name)
    if code != 0:
        raise ClusterError(
            f"`kwokctl create cluster` failed (exit {code}): {_kwokctl_errors(output)}{_log_tails(name)}",
            hint="the half-started sandbox was removed again; fix the cause named above and run "
            "`gripctl sandbox up` again",
        )
    kube = _write_standalone_kubeconfig(name)
    context = cluster_name(name)
    sandbox = SandboxInfo(context, context, kube, _server_of(kube), "")
    version = _wait_api_ready(sandbox, name)
    sandbox = SandboxInfo(context, context, kube, sandbox.server, version)
    with _api(sandbox) as api:
        _apply_stages(api)
        _ensure_nodes(api, nodes, name)
        _wait_control_plane(api, name)
    _merge_user_kubeconfig(sandbox)
    _state_file(name).write_text(json.dumps(sandbox.to_dict(), indent=2) + "\n")
    return sandbox


def _write_standalone_kubeconfig(name: str | None) -> Path:
    """A kubeconfig with the sandbox's credentials embedded, under the `gripctl-sandbox[-NAME]` names.

    kwokctl's own file names its context `kwok-<name>` and points at cert files by path; embedding the
    data makes the file self-contained, so it can be merged into the user's kubeconfig as-is."""
    context = cluster_name(name)
    source = _read_kubeconfig(cluster_dir(name) / "kubeconfig.yaml")
    try:
        cluster = source["clusters"][0]["cluster"]
        user = source["users"][0]["user"]
    except (KeyError, IndexError, TypeError) as exc:
        raise ClusterError(
            f"kwokctl wrote no usable kubeconfig at {cluster_dir(name) / 'kubeconfig.yaml'} ({exc})",
            hint="run `gripctl sandbox down` and `gripctl sandbox up` again",
        ) from None
    cluster_entry: dict[str, Any] = {"server": cluster["server"]}
    user_entry: dict[str, Any] = {}
    for entry, fields, keys in (
        (cluster_entry, cluster, ("certificate-authority",)),
        (user_entry, user, ("client-certificate", "client-key")),
    ):
        for key in keys:
            if f"{key}-data" in fields:
                entry[f"{key}-data"] = fields[f"{key}-data"]
            elif key in fields:
                entry[f"{key}-data"] = _b64_file(fields[key])
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": context, "cluster": cluster_entry}],
        "users": [{"name": context, "user": user_entry}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
        "current-context": context,
    }
    path = standalone_kubeconfig(name)
    _write_private(path, yaml.safe_dump(doc, sort_keys=False))
    return path


def _wait_api_ready(sandbox: SandboxInfo, name: str | None) -> str:
    """Wait for the API server to answer; returns its version. Polling: there is nothing to watch yet."""
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if (version := _probe_version(sandbox)) is not None:
            return version
        if dead := _dead_components(name):
            raise ClusterError(
                f"sandbox component {', '.join(dead)} exited while starting" + _log_tails(name),
                hint="the log lines above say why (a port taken, a broken binary?); the sandbox was removed "
                "again, fix the cause and run `gripctl sandbox up` again",
            )
        time.sleep(0.5)
    raise ClusterError(
        f"the sandbox API server at {sandbox.server} did not answer within {READY_TIMEOUT_SECONDS}s"
        + _log_tails(name),
        hint="the sandbox was removed again; check the kube-apiserver log lines above, "
        "then run `gripctl sandbox up` again",
    )


def _apply_stages(api: k8s.ApiClient) -> None:
    """Create or replace gripctl's Stage resources (default node/pod stages and failure injection)."""
    _wait_crd_established(api, "stages.kwok.x-k8s.io")
    custom = k8s.CustomObjectsApi(api)
    for stage in stage_documents():
        name = stage["metadata"]["name"]
        try:
            custom.create_cluster_custom_object("kwok.x-k8s.io", "v1alpha1", "stages", stage)
        except ApiException as exc:
            if exc.status != 409:
                raise ClusterError(f"cannot apply kwok Stage {name!r}: {exc.reason} {exc.body}") from None
            live: Any = custom.get_cluster_custom_object("kwok.x-k8s.io", "v1alpha1", "stages", name)
            version = live["metadata"]["resourceVersion"]
            stage = {**stage, "metadata": {**stage["metadata"], "resourceVersion": version}}
            custom.replace_cluster_custom_object("kwok.x-k8s.io", "v1alpha1", "stages", name, stage)


def stage_documents() -> list[dict[str, Any]]:
    """The Stage resources the sandbox applies, in order (from sandbox_stages/)."""
    docs: list[dict[str, Any]] = []
    folder = resources.files("gripctl.adapters").joinpath("sandbox_stages")
    for file_name in STAGE_FILES:
        text = folder.joinpath(file_name).read_text(encoding="utf-8")
        docs += [d for d in yaml.safe_load_all(text) if d]
    return docs


def _wait_crd_established(api: k8s.ApiClient, name: str) -> None:
    ext = k8s.ApiextensionsV1Api(api)
    for crd in _watch(ext.list_custom_resource_definition, field_selector=f"metadata.name={name}"):
        conditions = crd.status.conditions or []
        if any(c.type == "Established" and c.status == "True" for c in conditions):
            return
    raise ClusterError(
        f"the CRD {name} did not become established within {READY_TIMEOUT_SECONDS}s",
        hint="kwokctl --enable-crds Stage installs it; run `gripctl sandbox down` and `up` again",
    )


def _node_names(count: int) -> list[str]:
    return [f"sandbox-node-{i}" for i in range(count)]


def _ensure_nodes(api: k8s.ApiClient, count: int, name: str | None) -> None:
    """Create the simulated nodes that are missing (never deletes) and wait until they are Ready."""
    core = k8s.CoreV1Api(api)
    wanted = _node_names(count)
    existing = {n.metadata.name for n in core.list_node().items if n.metadata}
    for node_name in wanted:
        if node_name in existing:
            continue
        labels = {
            "kubernetes.io/hostname": node_name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "node-role.kubernetes.io/agent": "",
            "type": "kwok",
        }
        meta = k8s.V1ObjectMeta(name=node_name, annotations={KWOK_NODE_ANNOTATION: "fake"}, labels=labels)
        core.create_node(k8s.V1Node(api_version="v1", kind="Node", metadata=meta))
    pending = set(wanted)
    for node in _watch(core.list_node):
        if _node_ready(node):
            pending.discard(node.metadata.name)
        if not pending:
            return
    raise ClusterError(
        f"sandbox nodes {', '.join(sorted(pending))} did not become Ready within {READY_TIMEOUT_SECONDS}s",
        hint=f"read {cluster_dir(name) / 'logs' / 'kwok-controller.log'}, then `gripctl sandbox down` "
        "and `up`",
    )


def _wait_control_plane(api: k8s.ApiClient, name: str | None) -> None:
    """Wait until the scheduler and the controller manager hold their leader leases: only then do
    Deployments get pods and pods get nodes."""
    pending = {"kube-scheduler", "kube-controller-manager"}
    for lease in _watch(k8s.CoordinationV1Api(api).list_namespaced_lease, "kube-system"):
        if lease.spec and lease.spec.holder_identity:
            pending.discard(lease.metadata.name)
        if not pending:
            return
    raise ClusterError(
        f"{' and '.join(sorted(pending))} did not start within {READY_TIMEOUT_SECONDS}s",
        hint=f"read the logs in {cluster_dir(name) / 'logs'}; then `gripctl sandbox down` and `up` again",
    )


# ------------------------------------------------------------------------------------------- teardown


def _teardown(name: str | None) -> None:
    """Remove everything `up` created: processes (kwokctl delete; pid files as a fallback), files, context."""
    if cluster_dir(name).exists():
        with contextlib.suppress(ToolMissingError, ToolError, OSError):
            _kwokctl(["--name", cluster_name(name), "delete", "cluster"], timeout=120, name=name)
        _kill_leftover_processes(name)
    shutil.rmtree(kwok_workdir(name), ignore_errors=True)
    kwokctl_config(name).unlink(missing_ok=True)
    _remove_from_user_kubeconfig(cluster_name(name))
    shutil.rmtree(_holders_dir(name), ignore_errors=True)
    for path in (standalone_kubeconfig(name), _state_file(name)):
        path.unlink(missing_ok=True)
    if name is not None:  # a named sandbox's folder goes too, once empty
        with contextlib.suppress(OSError):
            sandbox_dir(name).rmdir()


def _kill_leftover_processes(name: str | None) -> None:
    """Kill whatever survived `kwokctl delete`: every process running from this sandbox's workdir, not
    only those in kwokctl's pid files (<cluster>/pids/*.pid), which miss a component kwokctl was still
    starting when a failed `create` was torn down. A few passes, since such a process can appear just
    after a pass."""
    for attempt in range(20):
        ours = [pid for pid in _processes_of(name) if pid != os.getpid()]
        if not ours and attempt >= 2:
            return
        for pid in ours:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)


def _processes_of(name: str | None) -> Iterator[int]:
    """Pids of the processes whose command line names this sandbox's workdir."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _is_ours(int(entry.name), name):
            yield int(entry.name)


def _dead_components(name: str | None) -> list[str]:
    """Components whose recorded process is gone (kwokctl starts them detached and does not notice)."""
    dead = []
    for pid_file in sorted((cluster_dir(name) / "pids").glob("*.pid")):
        with contextlib.suppress(ValueError, OSError):
            if not _is_ours(int(pid_file.read_text().strip()), name):
                dead.append(pid_file.stem)
    return dead


def _is_ours(pid: int, name: str | None) -> bool:
    """True when the process still runs from this sandbox's workdir (pids get reused)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    return str(kwok_workdir(name)) + "/" in cmdline  # the slash: no other sandbox's folder matches


# ----------------------------------------------------------------------------------- user kubeconfig


def _merge_user_kubeconfig(sandbox: SandboxInfo) -> None:
    """Put the `gripctl-sandbox` cluster, user and context into the user's kubeconfig, replacing older
    entries of that name. The current context is set only when there is none: gripctl never silently
    retargets a kubectl that points somewhere else."""
    ours = _read_kubeconfig(sandbox.kubeconfig)
    path = user_kubeconfig()
    before = _read_kubeconfig(path)
    doc = dict(before) or {"apiVersion": "v1", "kind": "Config"}
    for section in ("clusters", "users", "contexts"):
        entries = [e for e in doc.get(section) or [] if e.get("name") != sandbox.context]
        doc[section] = entries + ours[section]
    if not doc.get("current-context"):
        doc["current-context"] = sandbox.context
    if doc != before:  # a warm `up` leaves the file alone
        _write_private(path, yaml.safe_dump(doc, sort_keys=False))


def _remove_from_user_kubeconfig(context: str) -> None:
    path = user_kubeconfig()
    doc = _read_kubeconfig(path)
    if not doc:
        return
    changed = False
    for section in ("clusters", "users", "contexts"):
        entries = doc.get(section) or []
        kept = [e for e in entries if e.get("name") != context]
        if len(kept) != len(entries):
            doc[section] = kept
            changed = True
    if doc.get("current-context") == context:
        doc["current-context"] = ""
        changed = True
    if not changed:
        return
    if not any(doc.get(k) for k in ("clusters", "users", "contexts", "current-context", "preferences")):
        path.unlink()  # only our entries were in it: `up` created it, so `down` removes it
    else:
        _write_private(path, yaml.safe_dump(doc, sort_keys=False))


def _read_kubeconfig(path: Path) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, yaml.YAMLError) as exc:
        raise ClusterError(
            f"cannot read kubeconfig {path}: {exc}", hint="fix or move that file, then run the command again"
        ) from None
    return doc if isinstance(doc, dict) else {}


def _write_private(path: Path, text: str) -> None:
    """Write atomically, mode 0600: kubeconfigs hold credentials, and a half-written one breaks kubectl."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


# -------------------------------------------------------------------------------------------- holders
# A claim is a file named after the holder that contains its pid; a claim whose process is gone is dead.
# Several test sessions may share one sandbox: the last one to leave stops it.


def _claim(holder: str, name: str | None) -> None:
    _holders_dir(name).mkdir(parents=True, exist_ok=True)
    (_holders_dir(name) / holder).write_text(str(os.getpid()))


def _release(holder: str, name: str | None) -> None:
    (_holders_dir(name) / holder).unlink(missing_ok=True)


def _live_holders(name: str | None) -> list[str]:
    live = []
    for claim in _holders_dir(name).glob("*"):
        with contextlib.suppress(OSError, ValueError):
            if Path(f"/proc/{int(claim.read_text().strip())}").exists():
                live.append(claim.name)
    return live


# -------------------------------------------------------------------------------------------- helpers


@contextlib.contextmanager
def _locked(name: str | None) -> Iterator[None]:
    """One up/down at a time across processes (test sessions of several engineers share the sandbox)."""
    home().mkdir(parents=True, exist_ok=True)
    with open(home() / "lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextlib.contextmanager
def _api(sandbox: SandboxInfo) -> Iterator[k8s.ApiClient]:
    api = api_client(sandbox)
    try:
        yield api
    finally:
        api.close()  # type: ignore[no-untyped-call]


def _watch(list_fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Iterator[Any]:
    """The objects of a watch (initial list first, then changes) until the caller stops iterating or
    READY_TIMEOUT_SECONDS pass. Waiting by watch: no sleep-polling against the API server."""
    w = k8s_watch.Watch()  # type: ignore[no-untyped-call]
    try:
        stream = w.stream(list_fn, *args, timeout_seconds=READY_TIMEOUT_SECONDS, **kwargs)  # type: ignore[no-untyped-call]
        for event in stream:
            yield event["object"]
    finally:
        w.stop()  # type: ignore[no-untyped-call]


def _load_state(name: str | None) -> SandboxInfo | None:
    try:
        data = json.loads(_state_file(name).read_text())
        return SandboxInfo(
            name=data["name"],
            context=data["context"],
            kubeconfig=Path(data["kubeconfig"]),
            server=data["server"],
            kube_version=data["kube_version"],
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _running_info(name: str | None) -> SandboxInfo | None:
    saved = _load_state(name)
    if saved is None or not saved.kubeconfig.is_file():
        return None
    return saved if _probe_version(saved) is not None else None


def _probe_version(sandbox: SandboxInfo) -> str | None:
    """The API server's version, or None when it does not answer within a few seconds."""
    try:
        with _api(sandbox) as api:
            api.configuration.retries = False
            version = k8s.VersionApi(api).get_code(_request_timeout=3)
    except (ApiException, HTTPError, ConfigException, OSError, ValueError):
        return None
    return str(version.git_version)


def _components(name: str | None) -> tuple[ComponentStatus, ...]:
    """kwokctl's view of the component processes (`kwokctl get components -o wide`)."""
    if not cluster_dir(name).exists():
        return ()
    try:
        code, output = _kwokctl(
            ["--name", cluster_name(name), "get", "components", "-o", "wide"], timeout=30, name=name
        )
    except (ToolMissingError, ToolError):
        return ()
    if code != 0:
        return ()
    rows = [line.split() for line in output.splitlines() if line.strip()]
    return tuple(ComponentStatus(r[0], r[1]) for r in rows if len(r) >= 2 and r[0] != "NAME")


def _node_ready(node: Any) -> bool:
    conditions = (node.status.conditions if node.status else None) or []
    return any(c.type == "Ready" and c.status == "True" for c in conditions)


def _server_of(kubeconfig: Path) -> str:
    return str(_read_kubeconfig(kubeconfig)["clusters"][0]["cluster"]["server"])


def _b64_file(path: str) -> str:
    return base64.b64encode(Path(path).expanduser().read_bytes()).decode()


def _tail(text: str, lines: int = 12) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _kwokctl_errors(output: str) -> str:
    """kwokctl logs JSON lines; keep the message and error of its warnings and errors, else the tail."""
    picked = []
    for line in output.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("level") in ("WARN", "ERROR"):
            err = str(entry.get("err", "")).strip()
            picked.append(f"{entry.get('msg', '')}: {err}" if err else str(entry.get("msg", "")))
    return "; ".join(dict.fromkeys(picked)) if picked else _tail(output)


def _log_tails(name: str | None) -> str:
    """The last lines of each component log, so a failed start says why without a second command."""
    parts = []
    for log in sorted((cluster_dir(name) / "logs").glob("*.log")):
        with contextlib.suppress(OSError):
            tail = _tail(log.read_text(errors="replace"), 5)
            if tail:
                parts.append(f"\n--- {log.name} (last lines)\n{tail}")
    return "".join(parts)
