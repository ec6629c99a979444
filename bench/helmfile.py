"""gripctl and helmfile side by side (`make bench-helmfile`), both as whole CLI processes on one graph.

For each platform (12 = examples/webgrip, staging; 40, 100, 300 = bench/benchlib.py's synthetic
graphs) and each round, both tools run the same four scenarios, one tool after the other on a clean
cluster (the first tool alternates between rounds):

1. deploy from empty;
2. no-op re-deploy (nothing changed);
3. one-release change (one release's pod template changes);
4. a failure in the middle: a release in the middle of the graph is changed to pods that crash, and the
   release that needs it is changed too. What each tool leaves behind is measured with helm and the
   API: the crashing release's helm status and whether it was rolled back (its running revision is the
   one from before), whether its dependent was deployed, and how many releases are failed or pending.

The times are medians over --rounds; the ratio is gripctl/helmfile (below 1: gripctl faster).

gripctl runs as `gripctl deploy -e ENV` (its defaults: verification by watching, remediation
`rollback`). helmfile runs the state `gripctl export helmfile -e ENV` writes (secrets through its
`sops` mode), as `helmfile -f helmfile.yaml -e ENV sync --concurrency C --server-side true`, with
`helmDefaults: {wait: true, atomic: true}` added for parity: helm waits for readiness like gripctl
verifies it, and rolls back a failed upgrade (helm 4's --rollback-on-failure, which helmfile passes for
`atomic`) like gripctl's remediation; the release timeouts come from the export. `sync`, not
`apply`: `apply` needs the helm-diff plugin, which the toolchain does not carry (so helmfile upgrades
every release on a re-deploy: that is what `sync` does).

Usage: python bench/helmfile.py [--sizes 12,40,100,300] [--rounds 3] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from benchlib import GRIPCTL, ROOT, load, median, release_id, run_cli, synthetic, wait_gone
from gripctl.adapters import helm
from gripctl.adapters import sandbox as sandbox_adapter
from gripctl.adapters.kube import Kube
from gripctl.model import Platform, load_platform
from gripctl.observe.snapshot import target_for

HOLDER = "bench-helmfile"
EXAMPLE = ROOT / "examples" / "webgrip"
SCENARIOS = ("deploy from empty", "no-op re-deploy", "one-release change", "failure in the middle")
TOOLS = ("gripctl", "helmfile")
FAIL_TIMEOUT = "60s"  # the synthetic releases' timeout: how long helm --wait waits for crashing pods
# The example platform: the release changed, the one made to crash and the one that needs it.
EXAMPLE_CHANGE = ("950-example-services", "deployment.yaml")
EXAMPLE_CRASH = ("030-ingress-controllers", "deployment.yaml")
EXAMPLE_DEPENDENT = ("040-gha-runners-controller", None)


@dataclass
class Case:
    """One platform copy for one tool in one round."""

    root: Path
    environment: str
    platform: Platform
    env: dict[str, str]
    change: Callable[[], None]  # the one-release change
    fail: Callable[[], None]  # the failure in the middle (and its dependent's change)
    crash_id: str
    dependent_id: str
    teardown: Callable[[], None]


@dataclass
class Outcome:
    seconds: dict[str, float] = field(default_factory=dict)
    exit: dict[str, int] = field(default_factory=dict)
    left: str = ""


def helmfile_binary() -> str:
    """helmfile from PATH (`make bench` puts the bench toolchain first), by its real path: the cache's
    `current` link moves whenever scripts/toolchain.sh runs for the default set."""
    found = shutil.which("helmfile")
    if found is None:
        raise SystemExit("helmfile is not on PATH: run `make bench-toolchain` (or `make bench-helmfile`)")
    return os.path.realpath(found)


HELMFILE = ""


def command(tool: str, case: Case, concurrency: int) -> list[str]:
    if tool == "gripctl":
        return [GRIPCTL, "-C", str(case.root), "deploy", "-e", case.environment]
    return [
        HELMFILE, "-f", str(case.root / "helmfile.yaml"), "-e", case.environment,
        "sync", "--concurrency", str(concurrency), "--server-side", "true",
    ]  # fmt: skip


def export_helmfile(root: Path, environment: str, env: dict[str, str]) -> None:
    run_cli([GRIPCTL, "-C", str(root), "export", "helmfile", "-e", environment], env=env).check()
    path = root / "helmfile.yaml"
    text = path.read_text()
    marker = "helmDefaults:\n"
    assert marker in text, "the export has no helmDefaults"
    path.write_text(text.replace(marker, marker + "  wait: true  # bench parity: gripctl verifies\n"
                                 "  atomic: true  # bench parity: gripctl rolls back\n", 1))  # fmt: skip


async def left_behind(case: Case, before: dict[str, int]) -> str:
    """What the failed run left: measured with helm, not described."""
    target = target_for(case.platform)
    crash = case.platform.release(case.crash_id)
    dependent = case.platform.release(case.dependent_id)
    namespaces = sorted({r.namespace for r in case.platform.releases.values()})
    rows = [row for ns in namespaces for row in await helm.list_releases(ns, target)]
    names = {(r.namespace, r.name) for r in case.platform.releases.values()}
    statuses = [str(r.get("status")) for r in rows if (r.get("namespace"), r.get("name")) in names]
    failed = sum(s == "failed" for s in statuses)
    pending = sum(s.startswith("pending") for s in statuses)
    history = await helm.history(crash.name, crash.namespace, target)
    latest = max(history, key=lambda e: e.revision) if history else None
    running = [e for e in history if e.status == "deployed"]
    # Rolled back: the failed run made revisions, and the one running now has the manifest that ran before
    # it (descriptions differ: helm writes "Rollback to N", gripctl names its run).
    rolled_back = False
    previous = before.get(case.crash_id, 0)
    if latest and latest.status == "deployed" and previous and latest.revision > previous + 1:
        rolled_back = await helm.get_manifest(
            crash.name, crash.namespace, target, revision=latest.revision
        ) == await helm.get_manifest(crash.name, crash.namespace, target, revision=previous)
    crash_state = f"{latest.status} r{latest.revision}" if latest else "absent"
    dep_history = await helm.history(dependent.name, dependent.namespace, target)
    dep_revision = max((e.revision for e in dep_history), default=0)
    dependent_deployed = dep_revision > before.get(case.dependent_id, 0)
    kube = Kube(target)
    pods, _ = kube.list_objects("Pod", crash.namespace)
    crashing = sum(
        1
        for p in pods
        if (p.get("metadata", {}).get("labels") or {}).get("gripctl.dev/inject") == "crash"
        or any(
            ((cs.get("state") or {}).get("waiting") or {}).get("reason") == "CrashLoopBackOff"
            for cs in (p.get("status") or {}).get("containerStatuses") or []
        )
    )
    return (
        f"crashing release {crash_state}{' (rolled back)' if rolled_back else ''}"
        f"{', running r' + str(max(e.revision for e in running)) if running else ''}; "
        f"dependent {'deployed' if dependent_deployed else 'not deployed'}; "
        f"{failed} failed, {pending} pending; {crashing} crashing pods left"
    )


async def revisions(case: Case) -> dict[str, int]:
    target = target_for(case.platform)
    out = {}
    for rid in (case.crash_id, case.dependent_id):
        r = case.platform.release(rid)
        out[rid] = max((e.revision for e in await helm.history(r.name, r.namespace, target)), default=0)
    return out


def run_tool(tool: str, case: Case, concurrency: int) -> Outcome:
    out = Outcome()
    argv = command(tool, case, concurrency)
    for scenario in SCENARIOS:
        if scenario == "one-release change":
            case.change()
        before: dict[str, int] = {}
        if scenario == "failure in the middle":
            before = asyncio.run(revisions(case))
            case.fail()
        proc = run_cli(argv, env=case.env, name=tool)
        expect_failure = scenario == "failure in the middle"
        if (proc.returncode != 0) != expect_failure:
            tail = (proc.stderr or proc.stdout)[-2500:]
            raise SystemExit(f"{tool} {scenario}: exit {proc.returncode}, unexpected:\n{tail}")
        out.seconds[scenario] = proc.seconds
        out.exit[scenario] = proc.returncode
        if expect_failure:
            out.left = asyncio.run(left_behind(case, before))
        print(f"    {tool:8} {scenario:22} {proc.seconds:7.1f}s (exit {proc.returncode})", flush=True)
    return out


def synthetic_case(tmp: Path, n: int, info: sandbox_adapter.SandboxInfo, tag: str, concurrency: int) -> Case:
    root = tmp / f"{tag}-{n}"
    root.mkdir()
    namespace = f"bench-hf-{os.getpid()}-{tag}-{n}"
    sp = synthetic(
        root, n, namespace=namespace, kubeconfig=info.kubeconfig, context=info.context,
        concurrency=concurrency,
    )  # fmt: skip
    config = root / "gripctl.yaml"
    config.write_text(config.read_text().replace("timeout: 180s", f"timeout: {FAIL_TIMEOUT}"))
    env = cli_env(info)
    export_helmfile(root, sp.environment, env)
    platform = load_platform(root, sp.environment)
    crash, dependent, changed = release_id(5), release_id(6), release_id(3)

    def teardown() -> None:
        kube = Kube(target_for(platform))
        kube.delete("Namespace", None, namespace)
        wait_gone(lambda: kube.get("Namespace", None, namespace) is not None, f"namespace {namespace}")

    return Case(
        root,
        sp.environment,
        platform,
        env,
        change=lambda: sp.set_values(changed, version="v2"),
        fail=lambda: (
            sp.set_values(crash, version="v3", inject="crash"),
            sp.set_values(dependent, version="v2"),
        ),
        crash_id=crash,
        dependent_id=dependent,
        teardown=teardown,
    )


def inject(root: Path, release: str, template: str, label: str) -> None:
    """A label on every pod template of a chart file (as tests/e2e does; docs/sandbox.md)."""
    path = root / "ops" / "helm" / release / "templates" / template
    text = path.read_text()
    marker = "  template:\n    metadata:\n      labels:\n"
    assert marker in text, f"{path} has no pod template labels"
    path.write_text(text.replace(marker, f"{marker}        {label}\n"))


def example_case(tmp: Path, info: sandbox_adapter.SandboxInfo, tag: str) -> Case:
    root = tmp / f"{tag}-webgrip"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".gripctl"))
    env = {**cli_env(info), "SOPS_AGE_KEY_FILE": str(root / "keys" / "test-only.agekey")}
    os.environ["SOPS_AGE_KEY_FILE"] = env["SOPS_AGE_KEY_FILE"]
    export_helmfile(root, "staging", env)
    platform = load_platform(root, "staging")
    crash_id, template = EXAMPLE_CRASH

    def fail() -> None:
        inject(root, crash_id, template, "gripctl.dev/inject: crash")
        inject(root, EXAMPLE_DEPENDENT[0], "deployment.yaml", "gripctl.dev/bench: changed")

    case = Case(
        root,
        "staging",
        platform,
        env,
        change=lambda: inject(root, *EXAMPLE_CHANGE, "gripctl.dev/bench: changed"),
        fail=fail,
        crash_id=crash_id,
        dependent_id=EXAMPLE_DEPENDENT[0],
        teardown=lambda: asyncio.run(uninstall_all(platform)),
    )
    case.teardown()  # from empty
    return case


async def uninstall_all(platform: Platform) -> None:
    target = target_for(platform)
    for release in sorted(platform.releases.values(), key=lambda r: (r.order, r.id), reverse=True):
        if await helm.history(release.name, release.namespace, target):
            await helm.uninstall(release.name, release.namespace, target)
    kube = Kube(target)
    namespaces = {r.namespace for r in platform.releases.values()}
    wait_gone(lambda: any(kube.list_objects("Pod", ns)[0] for ns in namespaces), "the example's pods")


def cli_env(info: sandbox_adapter.SandboxInfo) -> dict[str, str]:
    # helmfile reads KUBECONFIG (the export says so); gripctl's synthetic platforms name it themselves.
    return {**os.environ, "KUBECONFIG": str(info.kubeconfig), "GITHUB_ACTIONS": "", "COLUMNS": "200"}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="12,40,100,300", help="comma-separated; 12 is the example")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8, help="of the synthetic platforms")
    args = parser.parse_args()
    global HELMFILE
    HELMFILE = helmfile_binary()
    info = sandbox_adapter.up(holder=HOLDER)
    results: dict[int, dict[str, list[Outcome]]] = {}
    loads: dict[int, str] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="gripctl-bench-helmfile-") as tmp:
            for n in [int(s) for s in args.sizes.split(",") if s]:
                results[n] = {t: [] for t in TOOLS}
                loads[n] = load()
                for rnd in range(args.rounds):
                    order = TOOLS if rnd % 2 == 0 else tuple(reversed(TOOLS))
                    print(f"{n} releases, round {rnd + 1} ({load()})", flush=True)
                    for tool in order:
                        tag = f"{tool[0]}{rnd}"
                        case = (
                            example_case(Path(tmp), info, tag)
                            if n == 12
                            else synthetic_case(Path(tmp), n, info, tag, args.concurrency)
                        )
                        try:
                            results[n][tool].append(run_tool(tool, case, case_concurrency(case, n, args)))
                        finally:
                            case.teardown()
    finally:
        sandbox_adapter.release(HOLDER)
    report(results, loads, args)


def case_concurrency(case: Case, n: int, args: argparse.Namespace) -> int:
    if n == 12:  # the example's own
        return case.platform.environment.concurrency or 4
    return int(args.concurrency)


def report(
    results: dict[int, dict[str, list[Outcome]]], loads: dict[int, str], args: argparse.Namespace
) -> None:
    print()
    print(f"{'platform':16} {'scenario':22} {'gripctl':>9} {'helmfile':>9} {'grip/helmfile':>13}")
    for n, by_tool in results.items():
        label = "webgrip (12)" if n == 12 else f"synthetic-{n}"
        for scenario in SCENARIOS:
            g = median([o.seconds[scenario] for o in by_tool["gripctl"]])
            h = median([o.seconds[scenario] for o in by_tool["helmfile"]])
            print(f"{label:16} {scenario:22} {g:8.1f}s {h:8.1f}s {g / h:12.2f}x")
    print()
    print("what the failure in the middle left behind (each round):")
    for n, by_tool in results.items():
        label = "webgrip (12)" if n == 12 else f"synthetic-{n}"
        for tool in TOOLS:
            for i, o in enumerate(by_tool[tool], 1):
                print(f"  {label} {tool} round {i}: {o.left}")
    print()
    print(
        f"rounds {args.rounds} (median), first tool alternating; synthetic concurrency {args.concurrency} "
        "for both "
        f"(helmfile --concurrency), the example's own (4); release timeout {FAIL_TIMEOUT} (synthetic), "
        f"the example's; helmfile: sync --server-side true, helmDefaults wait + atomic"
    )
    for n, text in loads.items():
        print(f"  {n} releases started at {text}")


if __name__ == "__main__":
    main()
