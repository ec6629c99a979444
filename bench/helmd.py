"""Benchmark (`make bench-helmd`): observe's helm calls through the helm binary vs gripctl-helmd.

In one run:

1. renders: N = 12, 40, 100, 300 copies of an example chart (examples/webgrip 950-example-services,
   each copy in its own folder, with the staging values file), rendered as observe renders a release
   (`helm template --no-hooks --is-upgrade --kube-version`), 4 at a time as gripctl runs helm; once
   with one `helm` process per render, once through the helper (started fresh, its start-up counted).
   Every helper render is checked equal to helm's.
2. reads, on the sandbox: 12 releases installed by helm (a namespace each, made by this run), then
   observe's reads for N = 12, 40, 100 releases (cycling over the 12): one `list -A`, then per release
   `history`, `get manifest`, `get values`, 4 releases at a time; helm binary vs helper. The
   namespaces are deleted at the end. Skipped with --no-cluster.

3. observe's snapshot (the helm side of `gripctl plan`), on the sandbox: a synthetic platform of
   --plan-releases releases (default 100; tests/engine's tiny chart) installed by helm, then
   `observe.snapshot` of all of them, as it is (helm binary) and with observe's five helm calls pointed
   at adapters.helmd, the one-line-per-call switch the lead plans (done here by patching the modules'
   `helm` name for the run). The two snapshots must be equal. Target of issue 14: 100 releases in 3 s.

Prints wall times and the ratio helper/binary.
Usage: python bench/helmd.py [--no-cluster] [--plan-releases N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from gripctl.adapters import helm, helmd
from gripctl.adapters import sandbox as sandbox_adapter
from gripctl.adapters.helm import KubeTarget, Values
from gripctl.adapters.kube import Kube
from gripctl.adapters.process import run_async

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "engine"))

from engine_platforms import make_platform  # noqa: E402

import gripctl.observe.release  # noqa: E402
import gripctl.observe.render  # noqa: E402
import gripctl.observe.snapshot  # noqa: E402
from gripctl.model import load_platform  # noqa: E402
from gripctl.observe.snapshot import snapshot as observe_snapshot  # noqa: E402

EXAMPLE = ROOT / "examples" / "webgrip"
CHART = EXAMPLE / "ops" / "helm" / "950-example-services"
VALUES = EXAMPLE / "envs" / "staging" / "values.yaml"
RENDER_COUNTS = (12, 40, 100, 300)
READ_COUNTS = (12, 40, 100)
INSTALLED = 12
CONCURRENCY = 4  # what gripctl runs helm with
HOLDER = "bench-helmd"


async def bounded(calls: Sequence[Callable[[], Awaitable[Any]]]) -> list[Any]:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(call: Callable[[], Awaitable[Any]]) -> Any:
        async with gate:
            return await call()

    return list(await asyncio.gather(*(one(c) for c in calls)))


async def timed(calls: Sequence[Callable[[], Awaitable[Any]]]) -> tuple[float, list[Any]]:
    start = time.perf_counter()
    out = await bounded(calls)
    return time.perf_counter() - start, out


def fresh_helper() -> None:
    """Stop the helper, so that the next call starts one and its start-up is in the figure."""
    helmd.shutdown()


async def bench_renders(tmp: Path, kube_version: str) -> list[tuple[int, float, float]]:
    charts = []
    for i in range(max(RENDER_COUNTS)):
        copy = tmp / "charts" / f"svc{i:03d}"
        shutil.copytree(CHART, copy)
        charts.append((f"svc{i:03d}", copy))
    values = Values(files=[VALUES])
    rows = []
    for n in RENDER_COUNTS:

        def calls(adapter: Any, n: int = n) -> list[Callable[[], Awaitable[str]]]:
            return [
                lambda name=name, chart=chart: adapter.render_release_manifest_async(
                    name, chart, name, values, kube_version=kube_version, is_upgrade=True
                )
                for name, chart in charts[:n]
            ]

        binary, expected = await timed(calls(helm))
        fresh_helper()
        helper, got = await timed(calls(helmd))
        if got != expected:
            sys.exit(f"renders differ between helm and gripctl-helmd at N={n}")
        rows.append((n, binary, helper))
        print(f"render N={n:3d}: helm {binary:6.2f}s  helper {helper:6.2f}s  ratio {helper / binary:.3f}")
    return rows


def namespace_of(name: str) -> str:
    # The chart names its objects without the release name: one release per namespace.
    return f"bench-helmd-{os.getpid()}-{name}"


async def install(target: KubeTarget) -> list[str]:
    names = [f"read{i:02d}" for i in range(INSTALLED)]

    def installer(name: str) -> Callable[[], Awaitable[Any]]:
        args = ["upgrade", "--install", name, str(CHART), "--namespace", namespace_of(name),
                "--create-namespace", "--wait=hookOnly", "--timeout", "120s", "--values", str(VALUES),
                *target.args()]  # fmt: skip
        return lambda: run_async("helm", args)

    await bounded([installer(n) for n in names])
    return names


async def bench_reads(info: sandbox_adapter.SandboxInfo) -> list[tuple[int, float, float]]:
    target = KubeTarget(context=info.context, kubeconfig=info.kubeconfig)
    try:
        names = await install(target)
        rows = []
        for n in READ_COUNTS:
            wanted = [names[i % len(names)] for i in range(n)]

            async def observe_reads(adapter: Any, wanted: list[str] = wanted) -> list[Any]:
                await adapter.list_releases(None, target)

                def reads(name: str) -> Callable[[], Awaitable[Any]]:
                    async def run() -> Any:
                        ns = namespace_of(name)
                        entries = await adapter.history(name, ns, target, max_entries=20)
                        revision = max(e.revision for e in entries)
                        manifest = await adapter.get_manifest(name, ns, target, revision=revision)
                        values = await adapter.get_values(name, ns, target, revision=revision)
                        return entries, manifest, values

                    return run

                return await bounded([reads(name) for name in wanted])

            start = time.perf_counter()
            expected = await observe_reads(helm)
            binary = time.perf_counter() - start
            fresh_helper()
            start = time.perf_counter()
            got = await observe_reads(helmd)
            helper = time.perf_counter() - start
            if got != expected:
                sys.exit(f"reads differ between helm and gripctl-helmd at N={n}")
            rows.append((n, binary, helper))
            print(f"reads  N={n:3d}: helm {binary:6.2f}s  helper {helper:6.2f}s  ratio {helper / binary:.3f}")
        return rows
    finally:
        kube = Kube(target)
        for i in range(INSTALLED):
            kube.delete("Namespace", None, namespace_of(f"read{i:02d}"))


class HelmThroughHelper:
    """adapters.helm, with the five calls observe makes answered by adapters.helmd."""

    history = staticmethod(helmd.history)
    get_manifest = staticmethod(helmd.get_manifest)
    get_values = staticmethod(helmd.get_values)
    list_releases = staticmethod(helmd.list_releases)
    render_release_manifest_async = staticmethod(helmd.render_release_manifest_async)

    def __getattr__(self, name: str) -> Any:
        return getattr(helm, name)


OBSERVE_MODULES = (gripctl.observe.release, gripctl.observe.render, gripctl.observe.snapshot)


def comparable(snap: Any) -> tuple[Any, Any]:
    return (
        sorted((k, repr(v)) for k, v in snap.observed.items()),
        sorted((k, v.manifest, v.values_digest) for k, v in snap.desired.items()),
    )


async def bench_snapshot(
    tmp: Path, info: sandbox_adapter.SandboxInfo, releases: int
) -> tuple[int, float, float]:
    namespace = f"bench-helmd-plan-{os.getpid()}"
    synth = make_platform(
        tmp / "plan",
        namespace=namespace,
        kubeconfig=info.kubeconfig,
        context=info.context,
        needs={f"{100 + i}-svc{i:03d}": [] for i in range(releases)},
    )
    platform = load_platform(synth.root, synth.environment)
    target = KubeTarget(context=info.context, kubeconfig=info.kubeconfig)
    try:
        start = time.perf_counter()

        def installer(rid: str) -> Callable[[], Awaitable[Any]]:
            r = platform.release(rid)
            args = ["upgrade", "--install", r.name, str(r.chart_path), "--namespace", namespace,
                    "--create-namespace", "--wait=hookOnly", "--timeout", "120s", *target.args()]  # fmt: skip
            return lambda: run_async("helm", args)

        await installer(synth.ids[0])()  # creates the namespace
        await bounded([installer(rid) for rid in synth.ids[1:]])
        print(f"snapshot: {releases} releases installed in {time.perf_counter() - start:.1f}s")
        ids = list(synth.ids)
        start = time.perf_counter()
        expected = await observe_snapshot(platform, ids, target)
        binary = time.perf_counter() - start
        fresh_helper()
        for module in OBSERVE_MODULES:
            module.helm = HelmThroughHelper()  # type: ignore[attr-defined]
        try:
            start = time.perf_counter()
            got = await observe_snapshot(platform, ids, target)
            helper = time.perf_counter() - start
        finally:
            for module in OBSERVE_MODULES:
                module.helm = helm  # type: ignore[attr-defined]
        if comparable(got) != comparable(expected):
            sys.exit("snapshots differ between helm and gripctl-helmd")
        deployed = sum(o.exists for o in got.observed.values())
        print(f"snapshot N={releases}: helm {binary:6.2f}s  helper {helper:6.2f}s  ({deployed} deployed)")
        return releases, binary, helper
    finally:
        Kube(target).delete("Namespace", None, namespace)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--no-cluster", action="store_true", help="renders only; no sandbox")
    parser.add_argument("--plan-releases", type=int, default=100, help="releases in the snapshot part")
    args = parser.parse_args()
    if not helmd.enabled():
        sys.exit(f"{helmd.HELPER} is not installed: run `make setup`")
    info = None if args.no_cluster else sandbox_adapter.up(holder=HOLDER)
    try:
        with tempfile.TemporaryDirectory(prefix="gripctl-bench-helmd-") as tmp:
            kube_version = info.kube_version if info and info.kube_version else "v1.36.3"
            renders = asyncio.run(bench_renders(Path(tmp), kube_version))
            reads = asyncio.run(bench_reads(info)) if info else []
            snap = [asyncio.run(bench_snapshot(Path(tmp), info, args.plan_releases))] if info else []
    finally:
        if info is not None:
            sandbox_adapter.release(HOLDER)
        helmd.shutdown()

    print()
    print(f"{'calls':28} {'N':>4} {'helm binary':>12} {'helper':>8} {'ratio':>7}")
    for label, rows in (
        ("render (template --no-hooks)", renders),
        ("reads (history+manifest+values)", reads),
        ("observe snapshot (plan)", snap),
    ):
        for n, binary, helper in rows:
            print(f"{label:28} {n:4d} {binary:11.2f}s {helper:7.2f}s {helper / binary:6.3f}x")
    print(f"concurrency {CONCURRENCY}; helper start-up included; {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
