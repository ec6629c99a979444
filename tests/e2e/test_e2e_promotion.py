"""Staging before production, made a rule, end to end on two sandbox clusters (one per environment).

A private copy of examples/webgrip: staging on the `sandbox` cluster, production on the second one
(`production_sandbox`, `gripctl sandbox up --name production`), `promote_from: staging` as in the
example. Through the real command line:

1. the automatic entry (`deploy --auto`) refuses production (`deploy: manual`);
2. production before staging ran anything is refused, naming each release, its chart version and a
   short values digest — nothing deployed, nothing recorded;
3. staging deploys (`--auto`), then production deploys after an approval;
4. a secret both environments share changes: production refuses it until staging ran it, and the
   refusal shows no secret; `--force-promotion` deploys it anyway and the run's timeline says who;
5. a production-only values change needs nothing from staging (staging could never run it).
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import GRAFANA_SUBSET, E2EPlatform, Run, copy_platform, known_test_values, with_base64

from gripctl.adapters.sandbox import SandboxInfo
from ssh_keys import signers

SUBSET_IDS = ["005-tainters", "007-cluster-monitoring", "060-grafana-stack-secrets", "060-grafana-stack"]


@pytest.fixture
def two_clusters(
    tmp_path: Path, sandbox: SandboxInfo, production_sandbox: SandboxInfo
) -> Iterator[tuple[E2EPlatform, E2EPlatform]]:
    """The copy (its staging on `sandbox`) and a view of the same copy on the production cluster."""
    staging = copy_platform(tmp_path, str(sandbox.kubeconfig), sandbox.context)
    data = staging.config()
    data["environments"]["production"].update(
        context=production_sandbox.context,
        kubeconfig=str(production_sandbox.kubeconfig),
        promote_from="staging",
    )
    staging.write_config(data)
    production = E2EPlatform(
        staging.root, staging.prefix, str(production_sandbox.kubeconfig), production_sandbox.context
    )
    try:
        yield staging, production
    finally:
        staging.cleanup()
        production.cleanup()


def _helm_releases(view: E2EPlatform) -> set[str]:
    names = set()
    for ns in view.namespaces():
        listed = view.helm("list", "-n", ns, "-q", "--deployed", "--failed", "--pending", "--superseded")
        assert listed.returncode == 0, listed.stderr
        names |= set(listed.stdout.split())
    return names


def _grafana_password(view: E2EPlatform) -> str:
    ns = view.namespace("060-grafana-stack")  # its secrets release shares it
    got = view.kubectl("get", "secret", "grafana-admin", "-n", ns, "-o", "jsonpath={.data.admin-password}")
    assert got.returncode == 0, got.stderr
    return base64.b64decode(got.stdout).decode()


def _runs(view: E2EPlatform, environment: str) -> list[dict[str, Any]]:
    if not view.ledger_path.exists():
        return []
    return [dict(r) for r in view.ledger_rows("SELECT * FROM runs WHERE environment = ?", environment)]


def _approved_production_deploy(view: E2EPlatform, *extra: str) -> Run:
    """alice plans, bob approves with his SSH key (four eyes: docs/server.md), alice deploys."""
    keys = signers(view.root.parent / "ssh", ["bob"], view.root / "keys" / "allowed_signers")
    plan = view.gripctl("--output", "json", "plan", "-e", "production", *GRAFANA_SUBSET, "--as", "alice")
    assert plan.returncode == 2, plan
    approved = view.gripctl("approve", plan.json()["id"], "-e", "production", "--sign", str(keys["bob"]))
    assert approved.returncode == 0, approved
    return view.gripctl("deploy", "-e", "production", *GRAFANA_SUBSET, "--as", "alice", *extra)


def test_production_deploys_only_what_staging_ran(two_clusters: tuple[E2EPlatform, E2EPlatform]) -> None:
    staging, production = two_clusters

    # 1. The automatic entry never deploys a `deploy: manual` environment.
    auto = staging.gripctl("deploy", "-e", "production", "--auto", *GRAFANA_SUBSET)
    assert auto.returncode == 1, auto
    assert "environment production is `deploy: manual`: the automatic entry" in auto.stderr

    # 2. Production before staging ran anything: refused, naming what is missing; nothing changes.
    early = staging.gripctl("deploy", "-e", "production", *GRAFANA_SUBSET, "--as", "alice")
    assert early.returncode == 1, early
    assert "production promotes from staging: 4 release(s) have not succeeded in staging" in early.stderr
    for rid in SUBSET_IDS:
        assert f"  {rid}: chart " in early.stderr, early.stderr
    assert "`gripctl deploy -e staging`" in early.stderr and "--force-promotion" in early.stderr
    assert _helm_releases(production) == set() and _runs(staging, "production") == []

    # 3. Staging (the automatic entry), then production after an approval: two clusters, one each.
    first = staging.gripctl("deploy", "-e", "staging", "--auto", *GRAFANA_SUBSET)
    assert first.returncode == 0, first
    promoted = _approved_production_deploy(production)
    assert promoted.returncode == 0, promoted
    assert _helm_releases(production) == _helm_releases(staging) != set()
    assert staging.helm_history("060-grafana-stack")[-1]["status"] == "deployed"
    assert production.helm_history("060-grafana-stack")[-1]["status"] == "deployed"
    rows = production.ledger_rows(
        "SELECT r.environment, a.release_id, a.chart_version, a.values_digest FROM release_actions a "
        "JOIN runs r ON r.id = a.run_id WHERE a.action IN ('install', 'upgrade') AND a.outcome = 'succeeded'"
    )
    by_env = {(r["environment"], r["release_id"]): (r["chart_version"], r["values_digest"]) for r in rows}
    for rid in SUBSET_IDS:
        assert len(by_env[("staging", rid)][1]) == 64 and len(by_env[("production", rid)][1]) == 64
    # production's own values differ (retention, resources): its digest is not staging's
    assert by_env[("staging", "060-grafana-stack")] != by_env[("production", "060-grafana-stack")]

    # 4. A secret both environments share changes: production waits for staging.
    new_password = f"grafana-admin-TESTVALUE-{uuid.uuid4().hex[:8]}"
    staging.sops_set("060-grafana-stack-secrets", "grafana.adminPassword", new_password)
    refused = staging.gripctl("deploy", "-e", "production", *GRAFANA_SUBSET, "--as", "alice")
    assert refused.returncode == 1, refused
    assert "1 release(s) have not succeeded in staging" in refused.stderr
    assert "  060-grafana-stack-secrets: chart " in refused.stderr
    leaked = [
        v for v in with_base64([*known_test_values(), new_password]) if v in refused.stdout + refused.stderr
    ]
    assert leaked == []
    assert _grafana_password(production) != new_password  # the refusal changed nothing
    forced = _approved_production_deploy(production, "--force-promotion")
    assert forced.returncode == 0, forced
    assert _grafana_password(production) == new_password
    assert _grafana_password(staging) != new_password  # staging has not run it: only forced here
    run_id = max(r["id"] for r in _runs(staging, "production") if r["outcome"] == "succeeded")
    timeline = staging.gripctl("--output", "json", "runs", "show", str(run_id))
    assert timeline.returncode == 0, timeline
    notes = [e["message"] for e in json.loads(timeline.stdout)["events"] if e["kind"] == "note"]
    assert any(
        n.startswith(
            "promotion rule overridden by alice (--force-promotion): not yet succeeded in staging: "
            "060-grafana-stack-secrets: chart "
        )
        for n in notes
    ), notes
    # the staging deploy of the same change makes it promotable without --force-promotion
    assert staging.gripctl("deploy", "-e", "staging", "--auto", *GRAFANA_SUBSET).returncode == 0

    # 5. A production-only change: staging cannot run it, and production need not wait for it.
    values = staging.root / "envs" / "production" / "060-grafana-stack.yaml"
    values.write_text(values.read_text().replace("retention: 15d", "retention: 30d"))
    only_production = _approved_production_deploy(production)
    assert only_production.returncode == 0, only_production
    leaked = [v for v in with_base64([*known_test_values(), new_password]) if v in staging.output()]
    assert leaked == []
