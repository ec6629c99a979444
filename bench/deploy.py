"""Deploy benchmark on the sandbox (`make bench-deploy`): gripctl vs one-by-one helm, and fail-fast.

For each platform (a synthetic 40-release graph, and the example platform examples/webgrip), in one run:

1. sequential: every release with `helm upgrade --install --wait` in numeric order (what a CI script
   does); per-release times are kept;
2. everything uninstalled again;
3. `gripctl deploy` (the engine, in-process, default concurrency) from the same empty start;
   (the example platform is measured three times in the run and its medians reported);
4. the critical-path bound: the heaviest chain of `needs`, weighted with the per-release helm times of
   step 1 — no dependency-respecting deploy made of those same helm calls can be faster. gripctl's own
   per-release work is lighter than `helm --wait` (no client-side OpenAPI download: the server validates
   strictly under server-side apply; namespaces created through the API; a watch instead of helm's
   wait), so it can beat the bound; the scheduling overhead proper is shown against gripctl's own
   per-release times (deploying -> healthy) as well.

Printed: the wall times and the ratios gripctl/sequential (target <= 0.5) and gripctl/critical path
(target <= 1.25). Then failure detection: a deployed release is upgraded to a crash-looping version;
watches of our own, independent of the engine, see the first failing pod state and the first sign of
the rollback on the cluster (helm's release record of the rollback, status `pending-rollback`); the
difference is the detection latency (target < 3 s). A round in which either is not seen, or the
release was not rolled back, fails the benchmark: it is never counted as 0 s.
"""

from __future__ import annotations

import asyncio
import os
import resource
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "engine"))

from engine_platforms import make_platform  # noqa: E402

from gripctl.adapters import helm  # noqa: E402
from gripctl.adapters import sandbox as sandbox_adapter  # noqa: E402
from gripctl.adapters.kube import Kube  # noqa: E402
from gripctl.adapters.process import run_async  # noqa: E402
from gripctl.engine.actions import helm_values  # noqa: E402
from gripctl.model import Graph, Platform, load_platform  # noqa: E402
from gripctl.observe.snapshot import target_for  # noqa: E402
from gripctl.secrets.values import merged_values  # noqa: E402
from gripctl.service.deploy import DeployRequest, deploy  # noqa: E402

HOLDER = "bench-deploy"


def synthetic_needs(layers: int = 8, width: int = 5) -> dict[str, list[str]]:
    """40 releases in 8 layers; each needs one or two releases of the layer before (deterministic)."""
    needs: dict[str, list[str]] = {}
    previous: list[str] = []
    n = 0
    for layer in range(layers):
        current = []
        for i in range(width):
            n += 1
            rid = f"{100 + n * 5:03d}-svc{layer}{i}"
            deps = (
                sorted({previous[i % len(previous)], previous[(i * 3 + 1) % len(previous)]})
                if previous
                else []
            )
            needs[rid] = deps
            current.append(rid)
        previous = current
    return needs


async def sequential(platform: Platform) -> dict[str, float]:
    """`helm upgrade --install --wait` release by release, in numeric order; seconds per release."""
    target = target_for(platform)
    times: dict[str, float] = {}
    for release in sorted(platform.releases.values(), key=lambda r: (r.order, r.id)):
        values = helm_values(platform, release, merged_values(release.secrets, platform.root))
        chart = release.chart_path if release.chart_path.is_absolute() else platform.root / release.chart_path
        args = [
            "upgrade", "--install", release.name, str(chart),
            "--namespace", release.namespace, "--create-namespace",
            "--wait", "--timeout", f"{release.timeout_seconds}s",
            *values.args(), *target.args(),
        ]  # fmt: skip
        started = time.monotonic()
        await run_async("helm", args, stdin=values.stdin_yaml)
        times[release.id] = time.monotonic() - started
    return times


async def uninstall_all(platform: Platform) -> None:
    target = target_for(platform)
    for release in sorted(platform.releases.values(), key=lambda r: (r.order, r.id), reverse=True):
        if await helm.history(release.name, release.namespace, target):
            await helm.uninstall(release.name, release.namespace, target)
    kube = Kube(target)
    namespaces = {r.namespace for r in platform.releases.values()}
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # let garbage collection remove the pods before the next pass
        left = sum(len(kube.list_objects("Pod", ns)[0]) for ns in namespaces)
        if left == 0:
            return
        await asyncio.sleep(0.5)


async def bench_platform(name: str, root: Path, environment: str) -> dict[str, float]:
    platform = load_platform(root, environment)
    await uninstall_all(platform)
    seq = await sequential(platform)
    t_seq = sum(seq.values())
    await uninstall_all(platform)
    started = time.monotonic()
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    result = (await deploy(DeployRequest(root=root, environment=environment))).result
    t_grip = time.monotonic() - started
    own2, kids2 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_self = own2.ru_utime + own2.ru_stime - own.ru_utime - own.ru_stime
    cpu_children = kids2.ru_utime + kids2.ru_stime - kids.ru_utime - kids.ru_stime
    t_run = result.seconds  # the runner alone: after planning, locking and recovery
    if result.outcome.value != "succeeded":
        raise SystemExit(f"{name}: gripctl deploy {result.outcome.value}: {result.summary()}")
    graph = Graph.from_platform(platform)
    path = graph.critical_path(seq)
    t_crit = sum(seq[r] for r in path)
    own = {rid: (rr.finished or 0) - (rr.started or 0) for rid, rr in result.releases.items()}
    t_own_crit = sum(own[r] for r in graph.critical_path(own))
    await uninstall_all(platform)
    return {
        "releases": len(platform.releases),
        "sequential": t_seq,
        "gripctl": t_grip,
        "run": t_run,
        "cpu_self": cpu_self,
        "cpu_children": cpu_children,
        "critical": t_crit,
        "own_critical": t_own_crit,
        "chain": len(path),
    }


def _watch_rollback(kube: Kube, namespace: str, seen: dict[str, float], stop: threading.Event) -> None:
    """Our own watch of helm's release records: the moment a rollback's record appears (helm writes the
    new revision as `pending-rollback` before it changes anything)."""
    _, rv = kube.list_objects("Secret", namespace)
    while not stop.is_set() and "rollback" not in seen:
        for _etype, secret in kube.watch_stream("Secret", namespace, rv, timeout_seconds=30):
            rv = secret.get("metadata", {}).get("resourceVersion", rv)
            labels = secret.get("metadata", {}).get("labels") or {}
            if labels.get("owner") == "helm" and labels.get("status") == "pending-rollback":
                seen.setdefault("rollback", time.time())
                return
            if stop.is_set():
                return


def _watch_first_failure(kube: Kube, namespace: str, seen: dict[str, float], stop: threading.Event) -> None:
    """Our own watch, independent of the engine: the first moment a v2 pod is seen failing."""
    _, rv = kube.list_objects("Pod", namespace)
    while not stop.is_set() and "failed" not in seen:
        for _etype, pod in kube.watch_stream("Pod", namespace, rv, timeout_seconds=30):
            rv = pod.get("metadata", {}).get("resourceVersion", rv)
            labels = pod.get("metadata", {}).get("labels") or {}
            if labels.get("gripctl.dev/inject") != "crash":
                continue
            status = pod.get("status") or {}
            for cs in status.get("containerStatuses") or []:
                waiting = (cs.get("state") or {}).get("waiting") or {}
                if cs.get("restartCount", 0) > 0 or waiting.get("reason") == "CrashLoopBackOff":
                    seen.setdefault("failed", time.time())
            if status.get("phase") == "Failed":
                seen.setdefault("failed", time.time())
            if "failed" in seen or stop.is_set():
                return


async def bench_detection(info: sandbox_adapter.SandboxInfo, rounds: int = 3) -> list[tuple[float, float]]:
    """(seen failing -> rollback seen starting, both by our own watches; the engine's own figure)."""
    out = []
    for i in range(rounds):
        tmp = Path(tempfile.mkdtemp(prefix="gripctl-bench-detect-"))
        namespace = f"bench-detect-{os.getpid()}-{i}"
        sp = make_platform(
            tmp, namespace=namespace, kubeconfig=info.kubeconfig, context=info.context, needs={"010-app": []},
            timeout="120s",
        )  # fmt: skip
        await deploy(DeployRequest(root=tmp, environment=sp.environment))
        sp.set_values("010-app", version="v2", inject="crash")
        kube = Kube(target_for(load_platform(tmp, sp.environment)))
        seen: dict[str, float] = {}
        stop = threading.Event()
        watchers = [
            threading.Thread(target=watch, args=(kube, namespace, seen, stop), daemon=True)
            for watch in (_watch_first_failure, _watch_rollback)
        ]
        for watcher in watchers:
            watcher.start()
        result = (await deploy(DeployRequest(root=tmp, environment=sp.environment))).result
        for watcher in watchers:  # the rollback's record may reach the watch just after deploy returns
            watcher.join(timeout=10)
        stop.set()
        rr = result.releases["010-app"]
        if rr.phase.value != "rolled-back" or "failed" not in seen or "rollback" not in seen:
            raise SystemExit(
                f"failure detection round {i + 1}: release {rr.phase.value} ({rr.reason}); our watches saw "
                f"{sorted(seen) or 'nothing'} (need a failing pod and a rollback): the benchmark failed"
            )
        external = seen["rollback"] - seen["failed"]
        if external < 0:
            raise SystemExit(
                f"failure detection round {i + 1}: rollback seen {-external:.2f}s before the failure"
            )
        internal = (rr.remediation_started or 0) - (rr.failed_at or 0)
        out.append((external, internal))
        platform = load_platform(tmp, sp.environment)
        await uninstall_all(platform)
        kube.delete("Namespace", None, namespace)
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def main() -> None:
    info = sandbox_adapter.up(holder=HOLDER)
    try:
        rows: list[tuple[str, dict[str, float]]] = []
        with tempfile.TemporaryDirectory(prefix="gripctl-bench-deploy-") as tmp:
            synth_root = Path(tmp) / "synthetic"
            synth_root.mkdir()
            sp = make_platform(
                synth_root,
                namespace=f"bench-synth-{os.getpid()}",
                kubeconfig=info.kubeconfig,
                context=info.context,
                needs=synthetic_needs(),
                values={},
                timeout="120s",
                concurrency=8,  # the graph is 5 wide; 8 lets two layers' ready releases overlap
            )
            # Pods that take 1 s to become Ready, like a small real service: readiness matters to both sides.
            for rid in sp.ids:
                sp.set_values(rid, inject="slow-ready", readyAfter="1s")
            rows.append(
                ("synthetic-40", asyncio.run(bench_platform("synthetic-40", synth_root, sp.environment)))
            )
            Kube(target_for(load_platform(synth_root, sp.environment))).delete(
                "Namespace", None, sp.namespace
            )

            example = ROOT / "examples" / "webgrip"
            if (example / "gripctl.yaml").is_file():
                copy = Path(tmp) / "webgrip"
                shutil.copytree(example, copy, ignore=shutil.ignore_patterns(".gripctl"))
                os.environ.setdefault("SOPS_AGE_KEY_FILE", str(copy / "keys" / "test-only.agekey"))
                # A 5-second platform: three rounds in this run, the median of each figure, so that one
                # noisy second on a shared machine does not decide the ratio.
                rounds = [asyncio.run(bench_platform("webgrip", copy, "staging")) for _ in range(3)]
                for i, r in enumerate(rounds, 1):
                    print(
                        f"webgrip round {i}: sequential {r['sequential']:.1f}s, gripctl {r['gripctl']:.1f}s, "
                        f"critical path {r['critical']:.1f}s"
                    )
                rows.append(
                    ("webgrip (staging)", {k: statistics.median(r[k] for r in rounds) for k in rounds[0]})
                )
        detection = asyncio.run(bench_detection(info))
    finally:
        sandbox_adapter.release(HOLDER)

    print()
    print(f"{'platform':20} {'releases':>8} {'sequential':>11} {'gripctl':>9} {'crit.path':>10} "
          f"{'grip/seq':>9} {'grip/crit':>10}")  # fmt: skip
    for name, r in rows:
        print(
            f"{name:20} {int(r['releases']):8d} {r['sequential']:10.1f}s {r['gripctl']:8.1f}s "
            f"{r['critical']:9.1f}s "
            f"{r['gripctl'] / r['sequential']:8.2f}x {r['gripctl'] / r['critical']:9.2f}x"
        )
    print("targets: grip/seq <= 0.50x, grip/crit <= 1.25x")
    for name, r in rows:
        print(
            f"{name}: of gripctl's {r['gripctl']:.1f}s, {r['gripctl'] - r['run']:.1f}s went to planning "
            f"(helm history + template per release), locking and watch setup, {r['run']:.1f}s to running the "
            f"plan (run/crit {r['run'] / r['critical']:.2f}x, critical chain {int(r['chain'])} releases; "
            f"against gripctl's own per-release times the chain is {r['own_critical']:.1f}s, "
            f"run/own-chain {r['run'] / r['own_critical']:.2f}x); CPU: "
            f"gripctl {r['cpu_self']:.1f}s, its helm/sops children {r['cpu_children']:.1f}s, "
            f"on {os.cpu_count()} cores"
        )
    ext = [e for e, _ in detection]
    internal = [i for _, i in detection]
    print(
        f"failure detection (pod seen failing -> rollback seen starting, independent watches), "
        f"{len(detection)} rounds: "
        f"median {statistics.median(ext):.2f}s, max {max(ext):.2f}s "
        f"(engine-internal: median {statistics.median(internal):.3f}s); target < 3s"
    )


if __name__ == "__main__":
    main()
