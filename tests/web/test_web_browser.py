"""End to end in a real browser (Debian's chromium, driven by Playwright) against the sandbox cluster:
alice (deployer) requests a production deploy; she cannot approve her own plan; a viewer sees no approve
button and gets 403 from the API; a form post without the CSRF token is refused; bob (approver) logs in,
sees the diff and approves; the run page shows the releases turning healthy live; a failing release
appears as rolled back with its reason; the DORA page shows the same numbers as `gripctl metrics -o json`;
the incident the failure opened is acknowledged and resolved; a rollback from the release page is
confirmed, verified and recorded. Every page is screenshotted under the test's temporary folder."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from engine_platforms import SynthPlatform, make_platform
from web_helpers import Server, running_server

from gripctl.adapters.sandbox import SandboxInfo
from gripctl.ledger.types import RunOutcome
from gripctl.service.workspace import ledger_of

pytestmark = pytest.mark.cluster
NEEDS = {"010-a": [], "020-b": ["010-a"], "020-c": ["010-a"]}


class Shots:
    """Screenshots of each page, under the test's temporary folder (their names go in the report)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.taken: list[Path] = []

    def __call__(self, page: Any, name: str) -> None:
        path = self.folder / f"{len(self.taken) + 1:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        self.taken.append(path)


def login(page: Any, server: Server, token: str, then: str = "/") -> None:
    page.goto(f"{server.url}/login?next={then}")
    page.fill("#token", token)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(re.escape(server.url + then) + r"(\?.*)?$"))


def arrive(page: Any, pattern: str, timeout: float = 120_000) -> None:
    """Wait for the navigation a click started to land on `pattern`; fail with the page's text if it
    landed elsewhere (an error page says why)."""
    page.wait_for_load_state("load", timeout=timeout)
    try:
        page.wait_for_url(re.compile(pattern), timeout=timeout)
    except Exception:
        raise AssertionError(f"{page.url}: {page.inner_text('main')}") from None


def states(page: Any) -> dict[str, str]:
    cards = page.query_selector_all(".release-card")
    return {c.get_attribute("data-release"): c.get_attribute("data-state") for c in cards}


def wait_states(page: Any, expected: dict[str, str], timeout: float = 120_000) -> None:
    page.wait_for_function(
        """(want) => Object.entries(want).every(([r, s]) =>
              document.querySelector(`.release-card[data-release="${r}"]`)?.dataset.state === s)""",
        arg=expected,
        timeout=timeout,
    )


@pytest.fixture
def synth(tmp_path: Path, sandbox: SandboxInfo, namespace: str) -> SynthPlatform:
    return make_platform(
        tmp_path / "repo", namespace=namespace, kubeconfig=sandbox.kubeconfig, context=sandbox.context,
        needs=NEEDS, timeout="12s", values={"020-b": {"inject": "slow-ready", "readyAfter": "3s"}},
        production={"approvers": ["alice", "bob"]},
    )  # fmt: skip


def wait_run_ended(page: Any, root: Path, run_id: int, *, timeout_ms: int) -> None:
    """Wait until the run page shows an outcome; when it does not, say what the run and the page saw."""
    try:
        page.wait_for_function(
            "() => document.querySelector('#outcome .pill').dataset.state !== 'running'", timeout=timeout_ms
        )
    except Exception:
        rec = ledger_of(root).run(run_id)
        assert rec is not None
        raise AssertionError(
            f"{rec.outcome} {rec.error} "
            + "\n".join(f"{e.id} {e.kind} {e.release_id} {e.message}" for e in rec.events)
            + "\nreceived: "
            + str(page.evaluate("window.gripctlReceived"))
            + "\nstreaming: "
            + str(page.get_attribute("#run", "data-streaming"))
        ) from None


def test_the_team_flow(synth: SynthPlatform, browser: Any, tmp_path: Path) -> None:
    shot = Shots(tmp_path / "screenshots")
    prod, staging = synth.production, synth.environment
    with running_server(synth.root, status_every=2, worker=True, escalate_every=1) as server:
        alice = server.token("alice", "deployer")
        alice_approver = server.token("alice", "approver", key="alice-approver")
        bob = server.token("bob", "approver")
        victor = server.token("victor", "viewer")

        # alice requests a production deploy: the plan awaits an approval.
        page = browser.new_context(viewport={"width": 1360, "height": 900}).new_page()
        page.goto(server.url)
        shot(page, "login")
        login(page, server, alice)
        page.wait_for_function("() => document.querySelector('.releases td') !== null")
        form = page.locator(f"#env-{prod} form.deploy")
        with page.expect_navigation(timeout=180_000):
            form.locator("button").click()
        arrive(page, r".*/plans/[0-9a-f]{12}$", 5_000)
        plan_id = page.url.rsplit("/", 1)[1]
        assert page.inner_text("#plan-state") == "awaiting-approval"
        assert page.query_selector("#approve") is None  # a deployer: no approve button
        shot(page, "plan-requested-by-alice")
        assert ledger_of(synth.root).runs(prod) == []  # nothing ran yet

        # Four eyes: alice, even as an approver, cannot approve her own plan.
        own = server.api(alice_approver, "POST", f"/api/v1/plans/{plan_id}/approve", json={})
        assert own.status_code == 409 and "alice requested plan" in own.json()["message"], own.text
        # A viewer sees the plan but no approve button, and the API answers 403.
        viewer_page = browser.new_context().new_page()
        login(viewer_page, server, victor, f"/plans/{plan_id}")
        assert (
            viewer_page.query_selector("#approve") is None and viewer_page.query_selector("#reject") is None
        )
        assert server.api(victor, "POST", f"/api/v1/plans/{plan_id}/approve", json={}).status_code == 403
        viewer_page.context.close()

        # bob logs in, sees the diff, and approves.
        bob_page = browser.new_context(viewport={"width": 1360, "height": 900}).new_page()
        login(bob_page, server, bob, "/approvals")
        assert plan_id in bob_page.inner_text("main")
        shot(bob_page, "approvals")
        # A form post without the CSRF token is refused (the session cookie alone is not enough).
        forged = bob_page.request.post(f"{server.url}/plans/{plan_id}/approve", form={"comment": "forged"})
        assert forged.status == 403 and "CSRF" in forged.text()
        assert ledger_of(synth.root).approvals(ledger_of(synth.root).get_plan(plan_id).digest) == []  # type: ignore[union-attr]
        bob_page.click(f"a[href='/plans/{plan_id}'] >> nth=0")
        bob_page.wait_for_url(f"**/plans/{plan_id}")
        text = bob_page.inner_text("main")
        assert "Deployment" in text and "010-a" in text and "020-b" in text
        assert bob_page.query_selector("pre.diff") is not None or "added" in text
        shot(bob_page, "plan-diff-for-bob")
        bob_page.click("#approve")
        bob_page.wait_for_url(re.compile(r".*/runs/\d+$"), timeout=120_000)
        run_id = int(bob_page.url.rsplit("/", 1)[1])
        shot(bob_page, "run-live")
        wait_states(bob_page, {"010-a": "healthy", "020-b": "healthy", "020-c": "healthy"})
        assert bob_page.evaluate("window.gripctlReceived.length") > 0  # the page moved by the stream
        wait_run_ended(bob_page, synth.root, run_id, timeout_ms=60_000)
        shot(bob_page, "run-healthy")
        run = ledger_of(synth.root).run(run_id)
        assert run is not None and run.outcome is RunOutcome.succeeded and run.actor == "alice", run
        assert bob_page.get_attribute("#outcome .pill", "data-state") == "succeeded"
        assert any(e.kind == "note" and "approved by bob" in e.message for e in run.events)

        # A failing release shows as rolled back, with its reason.
        synth.set_values("020-c", inject="never-ready", version="v2")
        page.goto(server.url)
        page.locator(f"#env-{staging} form.deploy button").click()
        page.wait_for_url(re.compile(r".*/runs/\d+$"), timeout=120_000)
        failed_run = int(page.url.rsplit("/", 1)[1])
        wait_states(page, {"010-a": "healthy", "020-b": "healthy", "020-c": "rolled-back"})
        reason = page.inner_text('.release-card[data-release="020-c"] .rreason')
        assert "not ready" in reason.lower() or "never" in reason.lower() or "ready" in reason.lower(), reason
        wait_run_ended(page, synth.root, failed_run, timeout_ms=120_000)
        shot(page, "run-rolled-back")

        # The overview: releases in graph order with revision, health, drift, last run and who ran it.
        page.goto(server.url)
        overview = page.inner_text(f"#env-{prod}")
        assert page.query_selector(f'#env-{prod} a[href="/runs/{run_id}"]') is not None, overview
        assert "alice" in overview and "010-a" in overview
        shot(page, "overview")

        # The incident the failure opened: its page, acknowledge, resolve with a root cause.
        ledger = ledger_of(synth.root)
        [incident] = [i for i in ledger.incidents() if i.run_id == failed_run]
        page.goto(f"{server.url}/incidents")
        shot(page, "incidents")
        page.goto(f"{server.url}/incidents/{incident.id}")
        page.click("text=Acknowledge")
        page.wait_for_url(f"**/incidents/{incident.id}")
        page.fill("input[name=rca]", "020-c v2 never becomes ready")
        page.click("text=Resolve")
        page.wait_for_url(f"**/incidents/{incident.id}")
        assert "020-c v2 never becomes ready" in page.inner_text("main")
        shot(page, "incident-resolved")
        actions = [(e.action, e.actor) for e in ledger.audit_log()]
        assert ("incident.ack", "alice") in actions and ("incident.resolve", "alice") in actions
        assert ("approve", "bob") in actions and ("deploy.request", "alice") in actions

        # DORA: the same numbers as `gripctl metrics -o json` for the same ledger.
        bob_page.goto(f"{server.url}/dora")
        cli = subprocess.run(
            [sys.executable, "-m", "gripctl.cli.app", "-C", str(synth.root), "-o", "json", "metrics"],
            capture_output=True, text=True, check=True, timeout=120,
        )  # fmt: skip
        for env in json.loads(cli.stdout)["environments"]:
            section = bob_page.locator(f"#dora-{env['environment']}")
            keys = {"change_failure_rate": "change_failure_rate", "deployment_frequency": "deploys_per_day",
                    "lead_time": "lead_time_seconds"}  # fmt: skip
            for key, field in keys.items():
                shown = section.locator(f"[data-key={key}] .value").get_attribute("data-value")
                assert (float(shown) if shown else None) == env[field], (env, key, shown)
        shot(bob_page, "dora")
        bob_page.click(f"#dora-{staging} [data-key=change_failure_rate] .value a")
        bob_page.wait_for_url(f"**/dora/{staging}/failures")
        assert f"#{failed_run}" in bob_page.inner_text("main") and f"#{incident.id}" in bob_page.inner_text(
            "main"
        )
        shot(bob_page, "dora-failures")

        admin = server.token("root", "admin")
        admin_page = browser.new_context(viewport={"width": 1360, "height": 900}).new_page()
        login(admin_page, server, admin, "/admin/audit")
        assert "approve" in admin_page.inner_text("main") and "bob" in admin_page.inner_text("main")
        shot(admin_page, "audit")
        admin_page.goto(f"{server.url}/admin/tokens")
        assert "victor" in admin_page.inner_text("main")
        shot(admin_page, "tokens")
        admin_page.goto(f"{server.url}/runs")
        assert f"#{run_id}" in admin_page.inner_text("main") and f"#{failed_run}" in admin_page.inner_text(
            "main"
        )
        shot(admin_page, "runs")
        for p in (page, bob_page, admin_page):
            p.context.close()
    print("screenshots:", *(str(p) for p in shot.taken), sep="\n  ")


def test_rollback_from_the_release_page(synth: SynthPlatform, browser: Any, tmp_path: Path) -> None:
    shot = Shots(tmp_path / "screenshots")
    staging = synth.environment
    with running_server(synth.root, status_every=2, worker=False) as server:
        alice = server.token("alice", "deployer")
        victor = server.token("victor", "viewer")
        for version in ("v1", "v2"):
            synth.set_values("010-a", version=version)
            started = server.api(
                alice, "POST", f"/api/v1/environments/{staging}/deploys", json={"only": ["010-a"]}
            )
            assert started.status_code == 202, started.text
            with (
                server.client(alice) as c,
                c.stream("GET", f"/api/v1/runs/{started.json()['run_id']}/events") as s,
            ):
                for _ in s.iter_lines():
                    pass
        page = browser.new_context(viewport={"width": 1360, "height": 900}).new_page()
        login(page, server, alice, f"/environments/{staging}/releases/010-a")
        assert "Roll back to 1" in page.inner_text("main")
        shot(page, "release-history")
        page.click("text=Show diff")
        page.wait_for_selector("pre.diff")
        assert "v2" in page.inner_text("pre.diff") and "--- revision 1" in page.inner_text("pre.diff")
        shot(page, "release-diff")
        page.click("text=Roll back to 1")
        page.wait_for_url("**/rollback?revision=1")
        shot(page, "rollback-confirm")
        page.fill("#confirm", "wrong")
        page.click("button.danger")
        assert "type the release id" in page.inner_text("main")
        assert len(ledger_of(synth.root).runs(staging)) == 2  # nothing ran
        page.go_back()
        page.fill("#confirm", "010-a")
        page.click("button.danger")
        page.wait_for_url(re.compile(r".*/runs/\d+$"), timeout=60_000)
        run_id = int(page.url.rsplit("/", 1)[1])
        page.wait_for_function(
            "() => document.querySelector('#outcome .pill').dataset.state === 'succeeded'", timeout=120_000
        )
        shot(page, "rollback-run")
        run = ledger_of(synth.root).run(run_id)
        assert run is not None and run.kind.value == "rollback" and run.actor == "alice"
        assert ("rollback", "alice") in [(e.action, e.actor) for e in ledger_of(synth.root).audit_log()]
        # The viewer gets no rollback button, and 403 from both the page and the API.
        viewer = browser.new_context().new_page()
        login(viewer, server, victor, f"/environments/{staging}/releases/010-a")
        assert "Roll back to" not in viewer.inner_text("main")
        answer = server.api(
            victor, "POST", f"/api/v1/environments/{staging}/releases/010-a/rollback", json={}
        )
        assert answer.status_code == 403
        viewer.context.close()
        page.context.close()
