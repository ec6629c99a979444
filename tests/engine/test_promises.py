"""Promises the docs make, held on the sandbox: deploy runs the pre-deployment checks it promises,
plan and deploy agree on a release another helm holds, manual rollback and recover are runs like any
other (events, incidents), and `gripctl diff` exists with helm-diff's exit codes.

Each drives the real CLI (a subprocess, as an operator runs it) on a small synthetic platform in a
fresh namespace (tests/engine/engine_platforms.py).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Callable

import pytest
from engine_platforms import SynthPlatform

from gripctl.adapters import helm
from gripctl.adapters.helm import KubeTarget
from gripctl.adapters.toolchain import find_tool
from gripctl.ledger import open_ledger
from gripctl.ledger.store import Ledger

pytestmark = pytest.mark.cluster


def gripctl(sp: SynthPlatform, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gripctl.cli.app", "-C", str(sp.root), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def ledger_of(sp: SynthPlatform) -> Ledger:
    return open_ledger(f"sqlite:///{sp.root / '.gripctl' / 'ledger.sqlite'}")


async def history(sp: SynthPlatform, target: KubeTarget, rid: str) -> list[helm.HistoryEntry]:
    return await helm.history(rid.split("-", 1)[1], sp.namespace, target)


async def test_deploy_refuses_a_chart_validate_reports_as_an_error(
    synth: Callable[..., SynthPlatform], kube_target: KubeTarget
) -> None:
    sp = synth({"010-a": [], "020-b": ["010-a"]})
    chart_yaml = sp.root / "ops" / "helm" / "020-b" / "Chart.yaml"
    # `version: 1.0` is a YAML float: helm reads it as "1", and `helm lint` calls it an error.
    chart_yaml.write_text(chart_yaml.read_text().replace("version: 0.1.0", "version: 1.0"))

    refused = gripctl(sp, "deploy", "-e", sp.environment)
    assert refused.returncode == 1, refused.stderr
    assert "pre-deployment check(s) failed; nothing was changed" in refused.stderr
    assert "ops/helm/020-b/Chart.yaml" in refused.stderr, refused.stderr
    assert "version should be of type string" in refused.stderr, refused.stderr
    assert "--skip-validation" in refused.stderr
    assert await history(sp, kube_target, "010-a") == [] and await history(sp, kube_target, "020-b") == []
    assert ledger_of(sp).runs() == []  # refused before any run started

    forced = gripctl(sp, "deploy", "-e", sp.environment, "--skip-validation", "--as", "carol")
    assert forced.returncode == 0, forced.stderr
    assert [e.status for e in await history(sp, kube_target, "020-b")] == ["deployed"]
    run = ledger_of(sp).run(ledger_of(sp).runs()[0].id)
    assert run is not None
    assert any("pre-deployment checks skipped by carol" in e.message for e in run.events)


async def test_plan_and_deploy_agree_on_a_release_another_helm_holds(
    synth: Callable[..., SynthPlatform], kube_target: KubeTarget
) -> None:
    sp = synth({"010-a": []}, values={"010-a": {"inject": "never-ready"}})
    chart = sp.root / "ops" / "helm" / "010-a"
    other = subprocess.Popen(
        [find_tool("helm"), "upgrade", "--install", "a", str(chart), "-n", sp.namespace, "--wait",
         "--timeout", "60s", *kube_target.args()],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(100):
            entries = await history(sp, kube_target, "010-a")
            if entries and entries[-1].status == "pending-install":
                break
            await asyncio.sleep(0.2)
        else:
            pytest.fail("the other helm never got to pending-install")
        plan = gripctl(sp, "plan", "-e", sp.environment, "-o", "json")
        assert plan.returncode == 2, plan.stderr
        (release,) = json.loads(plan.stdout)["releases"]
        assert release["action"] == "blocked", release
        assert "pending-install" in release["reason"] and "helm" in release["reason"], release["reason"]
        text = gripctl(sp, "plan", "-e", sp.environment)
        assert "x 010-a blocked" in text.stdout and "1 blocked" in text.stdout, text.stdout

        deploy = gripctl(sp, "deploy", "-e", sp.environment)
        assert deploy.returncode == 75, deploy.stderr
        assert release["reason"] in " ".join(deploy.stderr.split()), deploy.stderr  # the plan's words
        assert [(e.revision, e.status) for e in await history(sp, kube_target, "010-a")] == [
            (1, "pending-install")
        ]
    finally:
        other.kill()
        other.wait()


async def test_a_failed_manual_rollback_is_a_run_with_events_and_an_incident(
    synth: Callable[..., SynthPlatform], kube_target: KubeTarget
) -> None:
    sp = synth({"010-a": []}, values={"010-a": {"inject": "crash"}}, remediation="none", timeout="20s")
    first = gripctl(sp, "deploy", "-e", sp.environment)
    assert first.returncode == 1  # revision 1 crashes and is left as it is (remediation: none)
    sp.set_values("010-a", inject="", version="v2")
    assert gripctl(sp, "deploy", "-e", sp.environment).returncode == 0

    back = gripctl(sp, "rollback", "010-a", "1", "-e", sp.environment, "--as", "dave")
    assert back.returncode == 1, back.stderr
    assert "rollback of 010-a to revision 1 failed" in back.stderr and "CrashLoopBackOff" in back.stderr

    led = ledger_of(sp)
    run = led.run(led.runs()[0].id)
    assert run is not None and run.kind.value == "rollback" and run.actor == "dave"
    assert run.outcome.value == "failed"
    kinds = [e.kind for e in run.events]
    assert kinds[0] == "run-started" and kinds[-1] == "run-finished", kinds
    incidents = [i for i in led.incidents() if i.run_id == run.id]
    assert len(incidents) == 1 and "010-a" in incidents[0].title, led.incidents()

    recover = gripctl(sp, "recover", "-e", sp.environment)
    assert recover.returncode == 0, recover.stderr
    run = led.run(led.runs()[0].id)
    assert run is not None and run.kind.value == "recover"
    assert [run.events[0].kind, run.events[-1].kind] == ["run-started", "run-finished"]


async def test_diff_shows_what_a_deploy_would_change_and_records_nothing(
    synth: Callable[..., SynthPlatform],
) -> None:
    sp = synth({"010-a": []})
    first = gripctl(sp, "diff", "-e", sp.environment)
    assert first.returncode == 2, first.stderr
    assert "+ apps/Deployment" in first.stdout and "+ Service" in first.stdout, first.stdout
    assert not (sp.root / ".gripctl").exists()  # diff never creates or writes a ledger

    assert gripctl(sp, "deploy", "-e", sp.environment).returncode == 0
    same = gripctl(sp, "diff", "-e", sp.environment)
    assert (same.returncode, same.stdout) == (0, "")

    sp.set_values("010-a", version="v2")
    changed = gripctl(sp, "-o", "json", "diff", "-e", sp.environment)
    assert changed.returncode == 2
    (release,) = json.loads(changed.stdout)
    assert release["release"] == "010-a" and release["action"] == "upgrade"
    assert any("registry.local/app:v2" in c["diff"] for c in release["changes"])
    assert ledger_of(sp).counts().get("plans") == 0  # `plan` would have recorded one; diff does not
