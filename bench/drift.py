"""Drift benchmark on the sandbox (`make bench-drift`): `gripctl drift` of a 30-release platform.

The platform is example-like: the namespaced charts of examples/webgrip (005-tainters,
007-cluster-monitoring, 060-grafana-stack with its SOPS secrets release, 950-example-services with its
secrets release) copied five times under new ids, names and namespaces — 30 releases. It is installed
with helm (server-side apply, as the engine does), then `service.drift` runs in-process three times
over all of it: load gripctl.yaml, check the cluster, one LIST of helm's release records, discovery,
one LIST per kind (by helm's managed-by label) of the live objects, and a server-side apply dry run
for each object whose live state does not already hold its whole manifest (16 in flight); then three
times with `--dry-run-all`, one dry run per object.

Printed per mode: objects checked, dry runs, the three wall times and their median (target: under
2 s), the process's CPU time; then a check that a `kubectl scale` is found (exit 2). Everything
installed is removed.
"""

from __future__ import annotations

import asyncio
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
WEBGRIP = ROOT / "examples" / "webgrip"

from gripctl.adapters import helm  # noqa: E402
from gripctl.adapters import sandbox as sandbox_adapter  # noqa: E402
from gripctl.adapters.toolchain import find_tool  # noqa: E402
from gripctl.model import Platform, load_platform  # noqa: E402
from gripctl.observe.snapshot import target_for  # noqa: E402
from gripctl.secrets.values import merged_values  # noqa: E402
from gripctl.service.drift import DriftRequest, drift  # noqa: E402

HOLDER = "bench-drift"
CHARTS = ("005-tainters", "007-cluster-monitoring", "060-grafana-stack", "950-example-services")
SECRETS = ("060-grafana-stack-secrets", "950-example-services-secrets")
GROUPS = "abcde"


def build_platform(tmp: Path, info: sandbox_adapter.SandboxInfo, prefix: str) -> Path:
    root = tmp / "platform"
    (root / "envs" / "bench").mkdir(parents=True)
    shutil.copy(WEBGRIP / "envs" / "staging" / "values.yaml", root / "envs" / "bench" / "values.yaml")
    releases: dict[str, dict[str, object]] = {}
    for g, group in enumerate(GROUPS):
        for c, chart in enumerate(CHARTS):
            name = chart.split("-", 1)[1]
            rid = f"{100 + g * 10 + c:03d}-{prefix}{group}-{name}"
            shutil.copytree(WEBGRIP / "ops" / "helm" / chart, root / "ops" / "helm" / rid)
            secrets = f"{chart}-secrets"
            if secrets in SECRETS:
                shutil.copytree(
                    WEBGRIP / "ops" / "secrets" / secrets, root / "ops" / "secrets" / f"{rid}-secrets"
                )
            releases[rid] = {}
    config = {
        "apiVersion": "gripctl/v1",
        "releases": releases,
        "environments": {
            "bench": {
                "context": info.context,
                "kubeconfig": str(info.kubeconfig),
                "values": ["envs/bench/values.yaml"],
            }
        },
    }
    (root / "gripctl.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return root


async def install(platform: Platform) -> None:
    target = target_for(platform)
    gate = asyncio.Semaphore(4)

    async def one(rid: str) -> None:
        release = platform.release(rid)
        values = helm.Values(
            files=release.values_files,
            stdin_yaml=merged_values(release.secrets, platform.root),
            set_values=dict(release.set_values),
        )
        async with gate:
            await helm.upgrade_install_release(
                release.name, release.chart_path, release.namespace, values, target, timeout_seconds=120
            )

    await asyncio.gather(*(one(rid) for rid in platform.releases))


async def uninstall(platform: Platform) -> None:
    target = target_for(platform)
    gate = asyncio.Semaphore(4)

    async def one(rid: str) -> None:
        release = platform.release(rid)
        async with gate:
            if await helm.history(release.name, release.namespace, target):
                await helm.uninstall(release.name, release.namespace, target, timeout_seconds=60)

    await asyncio.gather(*(one(rid) for rid in platform.releases))


def kubectl(info: sandbox_adapter.SandboxInfo, *args: str) -> None:
    where = ["--kubeconfig", str(info.kubeconfig), "--context", info.context]
    subprocess.run([find_tool("kubectl"), *where, *args], check=True, capture_output=True, timeout=120)


async def rounds(root: Path, dry_run_all: bool, count: int = 3) -> tuple[list[float], list[float], Any]:
    """`count` runs of service.drift; each must find no drift on the fresh install."""
    times, cpu = [], []
    result = None
    for _ in range(count):
        before = resource.getrusage(resource.RUSAGE_SELF)
        started = time.monotonic()
        result = await drift(DriftRequest(root=root, environment="bench", dry_run_all=dry_run_all))
        times.append(time.monotonic() - started)
        after = resource.getrusage(resource.RUSAGE_SELF)
        cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        if result.exit_code != 0:
            raise SystemExit(f"a fresh install shows drift: {result.to_dict()}")
    return times, cpu, result


async def main() -> None:
    os.environ.setdefault("SOPS_AGE_KEY_FILE", str(WEBGRIP / "keys" / "test-only.agekey"))
    info = sandbox_adapter.up(holder=HOLDER)
    tmp = Path(tempfile.mkdtemp(prefix="gripctl-bench-drift-"))
    prefix = f"d{os.getpid() % 10000}"
    root = build_platform(tmp, info, prefix)
    platform = load_platform(root, "bench")
    try:
        started = time.monotonic()
        await install(platform)
        print(f"installed {len(platform.releases)} releases in {time.monotonic() - started:.1f}s")
        rows = []
        for label, every in (("default", False), ("--dry-run-all", True)):
            times, cpu, result = await rounds(root, every)
            objects = sum(len(r.objects) for r in result.releases)
            dry_runs = sum(o.dry_run for r in result.releases for o in r.objects)
            rows.append((label, len(result.releases), objects, dry_runs, times, cpu))
        for label, releases, objects, dry_runs, times, cpu in rows:
            print(
                f"drift {label:14} {releases} releases, {objects} objects, {dry_runs:3d} dry runs: "
                f"{', '.join(f'{t:.2f}s' for t in times)} (median {statistics.median(times):.2f}s; "
                f"gripctl's own CPU {statistics.median(cpu):.2f}s)"
            )
        median = statistics.median(rows[0][4])
        print(f"target: median under 2 s for the default ({median:.2f}s) on {os.cpu_count()} cores")
        victim = platform.release(next(rid for rid in platform.releases if rid.endswith("example-services")))
        kubectl(info, "-n", victim.namespace, "scale", "deployment", "--all", "--replicas=4")
        found = await drift(DriftRequest(root=root, environment="bench"))
        drifted = [r.release_id for r in found.releases if r.drifted_objects]
        print(f"after kubectl scale: exit {found.exit_code}, drifted {drifted} in {found.seconds:.2f}s")
        if found.exit_code != 2 or drifted != [victim.id]:
            raise SystemExit("kubectl scale was not found as drift of exactly that release")
        if median >= 2.0:
            print("SLOWER than the 2 s target", file=sys.stderr)
    finally:
        await uninstall(platform)
        namespaces = sorted({r.namespace for r in platform.releases.values()})
        kubectl(info, "delete", "namespace", *namespaces, "--ignore-not-found", "--wait=false")
        sandbox_adapter.release(HOLDER)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
