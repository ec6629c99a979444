"""The deploy hands helm exactly the secrets the plan was computed with, not whatever the encrypted file
says a moment later: a secret re-encrypted with a new value between planning and running does not
slip into the run (the plan digest covers the secrets; what runs must be what was planned)."""

from __future__ import annotations

import asyncio
import base64
import uuid

import pytest
from e2e_helpers import TEST_KEY, E2EPlatform, known_test_values

from gripctl.model.selection import Selection
from gripctl.model.types import Platform
from gripctl.plan.types import Plan
from gripctl.service.deploy import DeployRequest, deploy


def _live_password(webgrip: E2EPlatform) -> str:
    ns = webgrip.namespace("060-grafana-stack")  # secrets releases share it
    got = webgrip.kubectl("get", "secret", "grafana-admin", "-n", ns, "-o", "jsonpath={.data.admin-password}")
    assert got.returncode == 0, got.stderr
    return base64.b64decode(got.stdout).decode()


def test_secret_changed_after_planning_is_not_deployed(
    webgrip: E2EPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(TEST_KEY))
    monkeypatch.delenv("GRIPCTL_DATABASE_URL", raising=False)
    changed = f"grafana-admin-TESTVALUE-late-{uuid.uuid4().hex[:8]}"
    planned: list[Plan] = []

    def change_secret_after_planning(_platform: Platform, plan: Plan) -> None:
        planned.append(plan)
        webgrip.sops_set("060-grafana-stack-secrets", "grafana.adminPassword", changed)

    deployment = asyncio.run(
        deploy(
            DeployRequest(
                root=webgrip.root,
                environment="staging",
                selection=Selection(only=("060-grafana-stack-secrets",)),
                on_plan=change_secret_after_planning,
                wait_lock=180,  # the staging Lease is shared with the e2e copies on other test workers
            )
        )
    )

    assert planned, "on_plan was not called: the test did not change anything"
    assert deployment.result.outcome.value == "succeeded", deployment.result.summary()
    live = _live_password(webgrip)
    assert live != changed, "the value re-encrypted after planning reached the cluster"
    assert live in known_test_values()  # the planned (original) value did
